// The API contract, tested once and run over both transports: the WebSocket of browser mode and the
// MessagePort of the Electron shell. Real engine, real signed fixture stream on 127.0.0.1, real
// library on disk; the client is the renderer's own (src-main/contract/client.ts).
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryApiError, jobEventSchema, progressSchema, type FerryClient, type JobEvent } from '../../src-main/contract/index.js';
import { createApiService, type ApiService } from '../../src-main/engine/index.js';
import { makeWorkDir, removeQuietly, serveSignedStream, twoProductShape, type ServedStream } from '../integration/mirror/helpers.js';
import { messagePortUnderTest, webSocketUnderTest, type TransportUnderTest } from './transports.js';

/** Follows a job and collects its events until the outcome; `until` resolves on the first event that passes. */
function collector(): { events: Array<{ seq: number; event: JobEvent }>; listener: (event: JobEvent, seq: number) => void; until: (test: (event: JobEvent) => boolean) => Promise<JobEvent> } {
  const events: Array<{ seq: number; event: JobEvent }> = [];
  const waiters: Array<{ test: (event: JobEvent) => boolean; resolve: (event: JobEvent) => void }> = [];
  return {
    events,
    listener: (event, seq) => {
      events.push({ seq, event });
      for (const waiter of [...waiters]) {
        if (waiter.test(event)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(event);
        }
      }
    },
    until: (test) => {
      const seen = events.find(({ event }) => test(event));
      if (seen !== undefined) return Promise.resolve(seen.event);
      return new Promise((resolve) => waiters.push({ test, resolve }));
    },
  };
}

const ended = (event: JobEvent): boolean => ['result', 'failed', 'cancelled', 'paused'].includes(event.type);

async function refusal(promise: Promise<unknown>): Promise<FerryApiError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof FerryApiError)) throw new Error(`expected a FerryApiError, got ${String(error)}`);
  return error;
}

describe.each([webSocketUnderTest, messagePortUnderTest])('the API contract over %o', (makeTransport) => {
  let transport: TransportUnderTest;
  let service: ApiService;
  let workDir: string;
  let upstream: ServedStream;
  let client: FerryClient;
  let streamId: string;

  beforeAll(async () => {
    workDir = await makeWorkDir('contract');
    upstream = await serveSignedStream(workDir, 'Contract test', twoProductShape(1));
    service = await createApiService({ library: join(workDir, 'library'), env: {}, cwd: workDir });
    transport = makeTransport();
    await transport.start(service);
    client = await transport.connect();
  });

  afterAll(async () => {
    client.close();
    await transport.stop();
    await service.close();
    await upstream.server.close();
    await removeQuietly(workDir);
  });

  it('refuses malformed calls with FERRY_INPUT_INVALID naming the field, as {code, message, hint}', async () => {
    const input = { stream: { source: upstream.source }, target: join(workDir, 'never'), selection: [], concurrency: 0 };
    const concurrency = await refusal(client.call('jobs.start', { kind: 'mirror', input }));
    expect(concurrency).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'input.concurrency' });
    expect(concurrency.message).toBe('input.concurrency must be a whole number, 1 or more, not 0.');

    const kind = await refusal(client.call('jobs.start', { kind: 'serve', input: {} } as never));
    expect(kind).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'kind', message: 'kind must be one of load, mirror, sync, gc, verify, import, export, not the string "serve".' });
    // The offline kinds' rules, cross-field ones included, are the contract's too.
    const drive = join(workDir, 'never-drive');
    const treeWithSite = await refusal(client.call('jobs.start', { kind: 'export', input: { to: drive, tree: join(workDir, 'tree'), site: 'dc1' } }));
    expect(treeWithSite).toMatchObject({
      code: 'FERRY_INPUT_INVALID',
      field: 'input.site',
      message: 'input.site must be left out with tree (only the library keeps a ledger of exports; use since), not the string "dc1".',
    });
    const treeLayout = await refusal(client.call('jobs.start', { kind: 'export', input: { to: drive, source: upstream.source, layout: 'tree', volumeSize: 1024 } }));
    expect(treeLayout).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'input.layout' });
    expect(treeLayout.message).toBe('input.layout must be bundle with site, since, volumeSize or nextTargets (a plain tree holds every file, on one volume), not the string "tree".');
    const noBundles = await refusal(client.call('jobs.start', { kind: 'verify', input: { bundles: [] } }));
    expect(noBundles).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'input.bundles', message: 'input.bundles must be a list of one or more bundle paths, not a list of 0 entries.' });
    const noTarget = await refusal(client.call('jobs.start', { kind: 'import', input: { bundles: [drive] } } as never));
    expect(noTarget).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'input.target' });
    const call = await refusal(client.call('jobs.launch' as never, {} as never));
    expect(call).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'call' });
    const streamRef = await refusal(client.call('jobs.start', { kind: 'mirror', input: { ...input, concurrency: 2, stream: { streamId: 7 } } } as never));
    expect(streamRef).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'input.stream.streamId' });

    const unknownJob = await refusal(client.call('jobs.pause', { jobId: 'no-such-job' }));
    expect(unknownJob).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'jobId' });
    const filter = await refusal(client.call('selection.parse', { filters: ['arch~(amd64'] }));
    expect(filter.code).toBe('FERRY_FILTER_INVALID');
    // Errors cross as plain {code, message, hint, ...facts}: no stack, no class.
    expect(Object.keys(filter.details ?? {})).toEqual(expect.arrayContaining(['code', 'message']));
    expect(filter.details).not.toHaveProperty('stack');
    expect(filter.details).not.toHaveProperty('name');
    // Nothing was started by any of them.
    expect(await client.call('jobs.list', {})).toEqual([]);
  });

  it('loads a source, lists it with its verification state, serves the catalog and a plan', async () => {
    const { jobId } = await client.call('sources.load', { source: upstream.source, keyringFiles: [upstream.testKey.keyringFile] });
    const seen = collector();
    await client.follow(jobId, seen.listener);
    const result = await seen.until(ended);
    expect(result.type).toBe('result');
    if (result.type !== 'result' || result.kind !== 'load') throw new Error('a load result');
    const outcome = result.outcome as { streamId: string };
    streamId = outcome.streamId;
    const sources = await client.call('sources.list', {});
    expect(sources).toEqual([expect.objectContaining({ streamId, trust: expect.objectContaining({ kind: 'verified' }) as unknown })]);
    const products = await client.call('catalog.products', { streamId, selection: [['release=jammy']] });
    expect(products.map((product) => product.release)).toEqual(['jammy']);
    expect(await client.call('selection.format', { groups: [['release=jammy'], ['arch=amd64']] })).toEqual({ filters: ['release=jammy', '--or', 'arch=amd64'] });
    const plan = await client.call('plan', { kind: 'sync', input: { stream: { streamId }, selection: [['release=jammy']] } });
    expect(plan.filesToFetch).toBeGreaterThan(0);
    expect(plan.bytesToFetch).toBeGreaterThan(64 * 1024);
  });

  it('runs a sync whose events arrive in order, each a valid JobEvent, progress in the one Progress shape', async () => {
    const { jobId } = await client.call('jobs.start', { kind: 'sync', input: { stream: { streamId }, selection: [['release=jammy']], progressIntervalMs: 1, profile: 'jammy-lab' } });
    const seen = collector();
    await client.follow(jobId, seen.listener);
    const last = await seen.until(ended);
    expect(last.type).toBe('result');
    expect(seen.events.map(({ seq }) => seq)).toEqual(seen.events.map((_, index) => index + 1));
    for (const { event } of seen.events) expect(jobEventSchema.safeParse(event).success).toBe(true);
    const progress = seen.events.flatMap(({ event }) => (event.type === 'progress' ? [event.progress] : []));
    expect(progress.length).toBeGreaterThan(0);
    for (const entry of progress) expect(progressSchema.parse(entry).jobId).toBe(jobId);
    const summary = await client.call('library.summary', {});
    expect(summary.products.map((product) => product.product)).toEqual([expect.stringContaining(':22.04:')]);
    expect((await client.call('jobs.get', { jobId })).state).toBe('succeeded');
    // Saved from a stream named by id, the profile keeps the keyring that stream was loaded with.
    expect(await client.call('profiles.list', {})).toEqual([expect.objectContaining({ name: 'jammy-lab', filters: ['release=jammy'], keyringFiles: [upstream.testKey.keyringFile], verify: true })]);
  });

  it('exports the synced selection from its library, then verifies and imports the bundle, each outcome a valid JobEvent', async () => {
    const run = async (start: Parameters<FerryClient['call']>[1] & { kind: string }): Promise<Extract<JobEvent, { type: 'result' }>> => {
      const { jobId } = await client.call('jobs.start', start as never);
      const seen = collector();
      await client.follow(jobId, seen.listener);
      const last = await seen.until(ended);
      // Parsed equal to what arrived: the schemas name every field the engine sends (zod drops the others).
      for (const { event } of seen.events) expect(jobEventSchema.parse(event), `${start.kind} ${event.type}`).toEqual(event);
      if (last.type !== 'result') throw new Error(`${start.kind} ended ${JSON.stringify(last)}`);
      return last;
    };
    const drive = join(workDir, 'drive');
    // An export writes only into a folder that exists (a typo must not land on the system disk).
    await mkdir(drive, { recursive: true });
    // No library named: the service's own, which the sync above filled.
    const exported = await run({ kind: 'export', input: { to: drive, source: upstream.source, selection: [['release=jammy']], keyringFiles: [upstream.testKey.keyringFile] } });
    if (exported.kind !== 'export') throw new Error('an export result');
    const exportOutcome = exported.outcome as { verified: { bad: unknown[] } | null; directories: string[] };
    expect(exportOutcome.verified?.bad).toEqual([]);
    // The bundle's own keyrings/ are not trusted by default: the operator names the keyring.
    const keyringFiles = [upstream.testKey.keyringFile];
    const verified = await run({ kind: 'verify', input: { bundles: [drive], keyringFiles } });
    expect(verified.outcome).toMatchObject({ complete: true, valid: true, missing: [], bad: [] });
    const imported = await run({ kind: 'import', input: { bundles: exportOutcome.directories, target: join(workDir, 'imported'), keyringFiles } });
    expect(imported.outcome).toMatchObject({ complete: true, missing: [], target: join(workDir, 'imported') });
    const advice = await client.call('catalog.advise', { streamId, selection: [['release=jamy']] });
    expect(advice.noMatch?.unmatchedValues).toEqual([expect.objectContaining({ filter: 'release=jamy', nearestValues: expect.arrayContaining(['jammy']) as unknown })]);
    const receipt = await client.call('receipts.write', { dir: join(workDir, 'imported'), out: join(workDir, 'site.receipt.json'), site: 'lab' });
    expect(receipt).toMatchObject({ format: 'stream-ferry-receipt', site: 'lab' });
    expect(receipt.blobs.length).toBeGreaterThan(0);

    // The History and Plan screens' records (engine/history.ts): the ledger's export, the receipt
    // just written (read again from its file), the bundle's audit log, and the library disk's space.
    const { bundleId } = exported.outcome as { bundleId: string };
    expect(await client.call('history.exports', {})).toEqual([expect.objectContaining({ bundleId, site: null, blobs: expect.any(Number) as unknown })]);
    expect(await client.call('history.receipts', {})).toEqual([{ path: join(workDir, 'site.receipt.json'), use: 'written', at: receipt.created, jobId: null, receipt, problem: null }]);
    const [audit, ...others] = await client.call('history.audit', {});
    expect(others).toEqual([]);
    expect(audit).toMatchObject({ bundleId, directory: exportOutcome.directories[0], problem: null });
    const events = audit?.entries.map((entry) => entry['event']);
    expect([events?.[0], events?.at(-1)]).toEqual(['fetched', 'exported']);
    expect(events).toContain('verified');
    const space = await client.call('library.space', {});
    expect(space).toMatchObject({ libraryDir: service.dataDir, freeBytes: expect.any(Number) as unknown });
  });

  it('keeps the settings, refusing a bad one by its field', async () => {
    const refused = await refusal(client.call('settings.set', { theme: 'blue' } as never));
    expect(refused).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'theme', message: 'theme must be system, light or dark, not the string "blue".' });
    expect(await client.call('settings.set', { theme: 'dark', concurrency: 4 })).toEqual({ theme: 'dark', concurrency: 4 });
    expect(await client.call('settings.get', {})).toEqual({ theme: 'dark', concurrency: 4 });
    expect((await client.call('engine.info', {})).dataDir).toBe(service.dataDir);
    expect(await refusal(client.call('jobs.subscribe', { jobId: 'never-ran' }))).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'jobId' });
  });

  it('cancels a running job: it ends with `cancelled` and its state says so', async () => {
    upstream.server.setFaults((request) => (request.path.endsWith('squashfs') ? { kind: 'drip', intervalMs: 200 } : undefined));
    try {
      const { jobId } = await client.call('jobs.start', { kind: 'mirror', input: { stream: { streamId }, target: join(workDir, 'cancelled'), selection: [] } });
      const seen = collector();
      await client.follow(jobId, seen.listener);
      await seen.until((event) => event.type === 'plan');
      // A running job that asked for no drive takes none: refused, naming the id.
      expect(await refusal(client.call('jobs.provideTarget', { jobId, path: '/media/usb2' }))).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'jobId' });
      await client.call('jobs.cancel', { jobId });
      expect((await seen.until(ended)).type).toBe('cancelled');
      expect((await client.call('jobs.get', { jobId })).state).toBe('cancelled');
      // A job that has ended cannot be cancelled again: refused, naming the id.
      expect(await refusal(client.call('jobs.cancel', { jobId }))).toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'jobId' });
    } finally {
      upstream.server.setFaults(undefined);
    }
  });

  it('reattaches after a reconnect: the job kept running, events resume after the last seen, pause and resume work from the new client', async () => {
    upstream.server.setFaults((request) => (request.path.endsWith('squashfs') ? { kind: 'drip', intervalMs: 100 } : undefined));
    const first = await transport.connect();
    const { jobId } = await first.call('jobs.start', { kind: 'mirror', input: { stream: { streamId }, target: join(workDir, 'reattached'), selection: [], progressIntervalMs: 20 } });
    const before = collector();
    await first.follow(jobId, before.listener);
    await before.until((event) => event.type === 'progress');
    first.close();
    const lastSeen = before.events.at(-1)?.seq ?? 0;

    const second = await transport.connect();
    try {
      const listed = await second.call('jobs.list', {});
      expect(listed.find((job) => job.id === jobId)?.state).toBe('running');
      const after = collector();
      const attached = await second.follow(jobId, after.listener, lastSeen);
      expect(attached.complete).toBe(true);
      await after.until((event) => event.type === 'progress');
      expect(after.events[0]?.seq).toBeGreaterThan(lastSeen);
      await second.call('jobs.pause', { jobId });
      expect((await after.until(ended)).type).toBe('paused');
      const seqs = after.events.map(({ seq }) => seq);
      expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));

      upstream.server.setFaults(undefined);
      const resumed = await second.call('jobs.resume', { jobId });
      const rest = collector();
      const status = await second.follow(resumed.jobId, rest.listener);
      expect(status.status.resumes).toBe(jobId);
      expect((await rest.until(ended)).type).toBe('result');
    } finally {
      upstream.server.setFaults(undefined);
      second.close();
    }
  });

  it('shows a job left running by an engine that stopped as interrupted, and resumes it', async () => {
    const dataDir = join(workDir, 'crashed-engine');
    await mkdir(dataDir, { recursive: true });
    const input = { stream: { source: upstream.source, keyringFiles: [upstream.testKey.keyringFile] }, target: join(workDir, 'after-crash'), selection: [['release=noble']] };
    const left = { id: 'job-left-running', kind: 'mirror', input, state: 'running', startedAt: new Date().toISOString() };
    await writeFile(join(dataDir, 'jobs.json'), JSON.stringify({ version: 1, jobs: [left] }));
    const restarted = await createApiService({ library: dataDir, env: {}, cwd: workDir });
    const other = makeTransport();
    await other.start(restarted);
    try {
      const reconnected = await other.connect();
      const [job] = await reconnected.call('jobs.list', {});
      expect(job).toMatchObject({ id: 'job-left-running', state: 'interrupted' });
      expect(JSON.parse(await readFile(join(dataDir, 'jobs.json'), 'utf8'))).toMatchObject({ jobs: [{ state: 'interrupted' }] });
      const { jobId } = await reconnected.call('jobs.resume', { jobId: 'job-left-running' });
      const seen = collector();
      await reconnected.follow(jobId, seen.listener);
      expect((await seen.until(ended)).type).toBe('result');
      const history = await reconnected.call('jobs.list', {});
      expect(history.map((entry) => [entry.id === jobId ? 'resumed' : entry.id, entry.state])).toEqual([
        ['job-left-running', 'interrupted'],
        ['resumed', 'succeeded'],
      ]);
      reconnected.close();
    } finally {
      await other.stop();
      await restarted.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
