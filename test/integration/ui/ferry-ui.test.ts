// `ferry ui` as the operator runs it (the built CLI, its own process): the URL on the first line,
// the page behind it, and jobs that outlive the process: SIGTERM pauses a running job and records
// it; a kill (a crash) leaves it interrupted; the next run lists both and resumes them, a sync
// from a stream loaded in the killed process included (its source is loaded again).
import { mkdir, readdir, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createClient, socketUrl, webSocketTransport, type FerryClient, type JobEvent } from '../../../src-main/contract/index.js';
import { collect, spawnFerry, type FerryRun } from '../../support/run-ferry.js';
import { blobsOnDisk, sha256sOf } from '../library/helpers.js';
import { dataRequests, ELEVEN_MIB_SIZES, makeWorkDir, nobleShape, removeQuietly, serveSignedStream, sleep, twoProductShape, type ServedStream } from '../mirror/helpers.js';

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

async function startUi(library = join(workDir, 'library')): Promise<RunningUi> {
  const child = spawnFerry(['ui', '--no-open', '--port', '0', '--library', library]);
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

/** The library's partial downloads by sha256, with their sizes (sidecar files left out). */
async function partialSizes(library: string): Promise<Map<string, number>> {
  const dir = join(library, 'tmp', 'partial');
  const names = (await readdir(dir).catch(() => [])).filter((name) => /^[0-9a-f]{64}$/.test(name));
  return new Map(await Promise.all(names.map(async (name): Promise<[string, number]> => [name, (await stat(join(dir, name))).size])));
}

describe('ferry ui after a crash', () => {
  it('resumes a sync from a stream the killed process had loaded, fetching only what the partial downloads lack', async () => {
    const dir = join(workDir, 'crash');
    await mkdir(dir, { recursive: true });
    const big = await serveSignedStream(dir, 'ferry ui crash test', nobleShape(['amd64', 'arm64'], ELEVEN_MIB_SIZES));
    const library = join(dir, 'library');
    try {
      // Each item's first response stops halfway until the process is killed: the kill lands mid-download.
      big.server.setFaults((request) => {
        const size = big.listed.get(request.path)?.size ?? 0;
        return request.range === undefined && size > 1 ? { kind: 'stall', afterBytes: Math.floor(size / 2), ms: Infinity } : undefined;
      });
      const first = await startUi(library);
      const { jobId: loadId } = await first.client.call('sources.load', { source: big.source, keyringFiles: [big.testKey.keyringFile] });
      const loaded = await outcomeOf(first.client, loadId);
      if (loaded.type !== 'result' || !('streamId' in loaded.outcome)) throw new Error(`the load ended with ${JSON.stringify(loaded)}`);
      const { jobId: syncId } = await first.client.call('jobs.start', { kind: 'sync', input: { stream: { streamId: loaded.outcome.streamId }, selection: [] } });
      const deadline = Date.now() + 30_000;
      while ([...(await partialSizes(library)).values()].filter((size) => size > 0).length < 2) {
        if (Date.now() > deadline) throw new Error('the sync wrote no partial downloads within 30 s');
        await sleep(20);
      }
      const killed = await first.stop('SIGKILL');
      expect(killed.signal).toBe('SIGKILL');
      const partials = await partialSizes(library);

      big.server.setFaults(undefined);
      big.server.resetCounters();
      const second = await startUi(library);
      try {
        expect((await second.client.call('jobs.get', { jobId: syncId })).state).toBe('interrupted');
        const { jobId } = await second.client.call('jobs.resume', { jobId: syncId });
        const outcome = await outcomeOf(second.client, jobId);
        if (outcome.type !== 'result' || !('failures' in outcome.outcome)) throw new Error(`the resumed sync ended with ${JSON.stringify(outcome)}`);
        expect(outcome.outcome.failures).toEqual([]);
        expect((await second.client.call('jobs.get', { jobId })).resumes).toBe(syncId);
      } finally {
        await second.stop('SIGTERM');
      }

      const blobs = await blobsOnDisk(library);
      expect([...sha256sOf(big.listed.values())].filter((sha256) => !blobs.has(sha256))).toEqual([]);
      // Each file is asked for once, from where its partial download stopped, and only its remainder is sent.
      const requests = dataRequests(big.server);
      let resumed = 0;
      for (const [path, file] of big.listed) {
        const asked = requests.filter((entry) => entry.path === path);
        const partial = partials.get(file.sha256) ?? 0;
        expect(asked.map((entry) => entry.range?.start), path).toEqual([partial > 0 ? partial : undefined]);
        expect(big.server.bytesSentFor(path), path).toBe(file.size - partial);
        if (partial > 0) resumed += 1;
      }
      expect(resumed).toBeGreaterThanOrEqual(2);
    } finally {
      await big.server.close();
    }
  });
});
