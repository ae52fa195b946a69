// The outbox of one browser-mode client (src-main/web/outbox.ts) while the client stops reading:
// its socket's buffer stays above the soft limit, so everything waits in the outbox. A progress
// event replaced by a newer one of the same job must leave the outbox (text and entry), or a fast
// sync grows `ferry ui` without limit while the hard limit, which counts only what is live, never
// closes the client.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { ServerMessage } from '../../../src-main/contract/index.js';
import { Outbox, type OutboxSocket } from '../../../src-main/web/outbox.js';

const MIB = 1024 * 1024;

/** A socket whose buffer is stuck at `bufferedAmount` until the test drains it. */
class StuckSocket implements OutboxSocket {
  bufferedAmount = 2 * MIB;
  readonly sent: string[] = [];
  closedWith: number | undefined;
  send(data: string): void {
    this.sent.push(data);
  }
  close(code: number): void {
    this.closedWith = code;
  }
}

function progress(jobId: string, seq: number): ServerMessage {
  const current = [{ name: `ubuntu/noble/amd64/${seq}/squashfs`, bytesDone: seq, bytesTotal: 1e9, speed: 1e6 }];
  const progressData = { jobId, step: 'download' as const, bytesDone: seq, bytesTotal: 1e9, filesDone: seq, filesTotal: 1e6, speed: 1e6, eta: 10, current };
  return { type: 'event', seq, event: { type: 'progress', jobId, progress: progressData } };
}

function removed(jobId: string, seq: number): ServerMessage {
  return { type: 'event', seq, event: { type: 'removed', jobId, path: `ubuntu/old/${seq}` } };
}

/** The heap in use after a full collection (gc exposed at run time: vitest does not start node with --expose-gc). */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('Outbox while the client does not read', () => {
  it('holds one progress event per job, whatever the number of progress events, and sends the rest in order', async () => {
    const socket = new StuckSocket();
    const outbox = new Outbox(socket, { softBytes: MIB, hardBytes: 16 * MIB });
    const jobs = ['a', 'b', 'c', 'd'];
    const others: string[] = [];
    let otherBytes = 0;
    const before = heapAfterGc();
    for (let seq = 1; seq <= 300_000; seq += 1) {
      const jobId = jobs[seq % jobs.length] as string;
      outbox.push(progress(jobId, seq));
      if (seq % 1000 === 0) {
        const other = removed(jobId, seq);
        others.push(JSON.stringify(other));
        otherBytes += Buffer.byteLength(JSON.stringify(other));
        outbox.push(other);
      }
    }
    const grown = heapAfterGc() - before;
    // 300,000 progress events of ~330 bytes each: ~100 MB of text held before the fix.
    expect(grown).toBeLessThan(16 * MIB);
    expect(socket.closedWith).toBeUndefined();
    const lastProgress = jobs.map((jobId) => JSON.stringify(progress(jobId, 300_000 - ((300_000 % 4) - jobs.indexOf(jobId) + 4) % 4)));
    const progressBytes = lastProgress.reduce((sum, text) => sum + Buffer.byteLength(text), 0);
    expect(outbox.pendingBytes).toBe(socket.bufferedAmount + otherBytes + progressBytes);

    // The client reads again: it gets every other event and the last progress event of each job.
    socket.bufferedAmount = 0;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(socket.sent.filter((text) => !text.includes('"progress"'))).toEqual(others);
    expect(socket.sent.filter((text) => text.includes('"progress"')).sort()).toEqual([...lastProgress].sort());
    expect(outbox.pendingBytes).toBe(0);
    outbox.close();
  });
});
