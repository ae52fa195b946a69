// `ferry ui` as the operator runs it (the built CLI, its own process): the URL on the first line,
// the page behind it, and jobs that outlive the process: SIGTERM pauses a running job and records
// it; a kill (a crash) leaves it interrupted; the next run lists both and resumes them.
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createClient, socketUrl, webSocketTransport, type FerryClient, type JobEvent } from '../../../src-main/contract/index.js';
import { collect, spawnFerry, type FerryRun } from '../../support/run-ferry.js';
import { makeWorkDir, removeQuietly, serveSignedStream, twoProductShape, type ServedStream } from '../mirror/helpers.js';

let workDir: string;
let upstream: ServedStream;

beforeAll(async () => {
  workDir = await makeWorkDir('ui');
  upstream = await serveSignedStream(workDir, 'ferry ui test', twoProductShape(1));
});

afterAll(async () => {
  await upstream.server.close();
  await removeQuietly(workDir);
});

interface RunningUi {
  url: string;
  client: FerryClient;
  stop(signal: NodeJS.Signals): Promise<FerryRun>;
}

async function startUi(): Promise<RunningUi> {
  const child = spawnFerry(['ui', '--no-open', '--port', '0', '--library', join(workDir, 'library')]);
  const finished = collect(child, 120_000);
  if (child.stdout === null) throw new Error('no stdout');
  const reader = createInterface({ input: child.stdout });
  const url = await new Promise<string>((resolve, reject) => {
    reader.once('line', resolve);
    finished.then((run) => {
      reject(new Error(`ferry ui exited before printing its URL: ${run.stderr}`));
    }, reject);
  });
  reader.close();
  const client = createClient(await webSocketTransport(new WebSocket(socketUrl(url))));
  return {
    url,
    client,
    stop: (signal) => {
      client.close();
      child.kill(signal);
      return finished;
    },
  };
}

function outcomeOf(client: FerryClient, jobId: string, onEvent: (event: JobEvent) => void = () => undefined): Promise<JobEvent> {
  return new Promise((resolve, reject) => {
    client
      .follow(jobId, (event) => {
        onEvent(event);
        if (['result', 'failed', 'cancelled', 'paused'].includes(event.type)) resolve(event);
      })
      .catch(reject);
  });
}

describe('ferry ui', () => {
  it('prints the URL first, serves the page, and keeps jobs across a stop, a crash and a restart', async () => {
    upstream.server.setFaults((request) => (request.path.endsWith('squashfs') ? { kind: 'drip', intervalMs: 100 } : undefined));
    const input = { stream: { source: upstream.source, keyringFiles: [upstream.testKey.keyringFile] }, target: join(workDir, 'tree'), selection: [['release=jammy']] };

    const first = await startUi();
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/[A-Za-z0-9_-]{43}\/$/);
    const page = await fetch(first.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const { jobId: stopped } = await first.client.call('jobs.start', { kind: 'mirror', input });
    await new Promise<void>((resolve) => {
      void first.client.follow(stopped, (event) => {
        if (event.type === 'plan') resolve();
      });
    });
    const stop = await first.stop('SIGTERM');
    expect(stop.code, stop.stderr).toBe(0);

    const second = await startUi();
    expect((await second.client.call('jobs.get', { jobId: stopped })).state).toBe('paused');
    const { jobId: crashed } = await second.client.call('jobs.resume', { jobId: stopped });
    await new Promise<void>((resolve) => {
      void second.client.follow(crashed, (event) => {
        if (event.type === 'plan') resolve();
      });
    });
    await second.stop('SIGKILL');

    upstream.server.setFaults(undefined);
    const third = await startUi();
    try {
      const history = await third.client.call('jobs.list', {});
      expect(history.map((job) => [job.id, job.state])).toEqual([
        [stopped, 'paused'],
        [crashed, 'interrupted'],
      ]);
      const { jobId } = await third.client.call('jobs.resume', { jobId: crashed });
      expect((await outcomeOf(third.client, jobId)).type).toBe('result');
    } finally {
      await third.stop('SIGTERM');
    }
  });
});
