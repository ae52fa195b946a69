import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../../src-main/engine/index.js';
import { makeWorkDir, removeQuietly } from '../../integration/mirror/helpers.js';
import { collectEvents } from './helpers.js';

// The job model against a face that misbehaves: throwing listeners, hostile inputs, iterators
// used out of turn, and many paused jobs. Dry-run gc jobs on an empty library are enough here.

let workDir: string;

beforeAll(async () => {
  workDir = await makeWorkDir('engine-robustness');
});

afterAll(async () => {
  await removeQuietly(workDir);
});

function newEngine(): Engine {
  return createEngine({ env: { ...process.env, FERRY_LIBRARY: '' }, cwd: workDir });
}

describe('a listener that throws', () => {
  it('is reported as a warning; the job and the other listeners go on', async () => {
    const engine = newEngine();
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const job = engine.startJob('gc', { library: join(workDir, 'library-throw'), dryRun: true });
      job.subscribe(() => {
        throw new Error('bug in a face');
      });
      const { ended } = collectEvents(job);
      await expect(job.result).resolves.toMatchObject({ dryRun: true });
      expect((await ended).at(-1)).toMatchObject({ type: 'result', jobId: job.id });
      expect(job.status().state).toBe('succeeded');
      // Warnings are delivered on a later tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((warning) => warning.name)).toContain('FerryListenerWarning');
      expect(warnings.find((warning) => warning.name === 'FerryListenerWarning')?.message).toContain('bug in a face');
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('a hostile input', () => {
  const refusals: Array<[string, string, unknown, string]> = [];
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  // A list with a hole at index 0, as a renderer's `[, 'a']` would send it.
  const sparse = (last: string): string[] => {
    const list: string[] = [];
    list[1] = last;
    return list;
  };
  refusals.push(
    ['a BigInt', 'load', { source: 1n }, 'source'],
    ['a circular value', 'load', { source: cycle }, 'source'],
    ['NaN', 'load', { source: 'stable', retries: Number.NaN }, 'retries'],
    ['a 50 MB string', 'load', { source: 'stable', retries: 'x'.repeat(50_000_000) }, 'retries'],
    ['a sparse list', 'load', { source: 'stable', keyringFiles: sparse('a') }, 'keyringFiles'],
    ['a sparse selection group', 'mirror', { stream: { source: 'stable' }, target: 't', selection: [sparse('arch=amd64')] }, 'selection'],
    ['an inherited streamId', 'mirror', { stream: Object.create({ streamId: 'zz' }) as object, target: 't', selection: [] }, 'stream.source'],
    ['an inherited source', 'sync', { stream: Object.create({ source: 'stable' }) as object, selection: [] }, 'stream'],
    ['a function field', 'load', { source: 'stable', extra: () => 1 }, 'input'],
    ['a symbol', 'load', { source: Symbol('s') }, 'input'],
    ['a Proxy', 'load', new Proxy({ source: 'stable' }, {}), 'input'],
    ['a symbol as kind', Symbol('load') as unknown as string, {}, 'kind'],
  );

  it.each(refusals)('%s is refused as FERRY_INPUT_INVALID naming the field, in a short message', (_label, kind, input, field) => {
    const engine = newEngine();
    let thrown: unknown;
    try {
      engine.startJob(kind as 'load', input as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'FERRY_INPUT_INVALID', field });
    expect((thrown as Error).message.length).toBeLessThan(250);
    expect(engine.jobs()).toEqual([]);
  });

  it('shows NaN as NaN, not as null', () => {
    expect(() => newEngine().startJob('load', { source: 'stable', retries: Number.NaN })).toThrow(/not NaN\./);
  });

  it('runs with exactly what was checked: a getter is read once, into a plain copy', async () => {
    let reads = 0;
    const input = {
      get library(): unknown {
        reads += 1;
        return reads === 1 ? join(workDir, 'library-getter') : 42;
      },
      dryRun: true,
    };
    const job = newEngine().startJob('gc', input as { library: string; dryRun: boolean });
    await expect(job.result).resolves.toMatchObject({ libraryDir: join(workDir, 'library-getter') });
    expect(reads).toBe(1);
    expect(Object.getOwnPropertyDescriptor(job.input, 'library')?.value).toBe(join(workDir, 'library-getter'));
  });
});

describe('a timeout longer than a Node timer can wait', () => {
  // Node runs a timer of 2^31 ms or more after 1 ms, so such a stall timeout would fire at once.
  it.each([
    ['stallTimeoutMs', 'load', { source: 'stable', stallTimeoutMs: 2 ** 31 }],
    ['stream.stallTimeoutMs', 'mirror', { stream: { source: 'stable', stallTimeoutMs: 2 ** 40 }, target: 't', selection: [] }],
    ['progressIntervalMs', 'mirror', { stream: { source: 'stable' }, target: 't', selection: [], progressIntervalMs: 2 ** 31 }],
  ])('%s of 2^31 ms or more is refused as FERRY_INPUT_INVALID', (field, kind, input) => {
    expect(() => newEngine().startJob(kind as 'load', input as never)).toThrow(expect.objectContaining({ code: 'FERRY_INPUT_INVALID', field }) as Error);
  });

  it('2^31 - 1 ms is the longest accepted', async () => {
    const started = newEngine().startJob('load', { source: 'stable', stallTimeoutMs: 2 ** 31 - 1 });
    // Cancelled before it starts: accepted is all this test asks.
    started.cancel();
    await expect(started.result).rejects.toMatchObject({ code: 'FERRY_CANCELLED' });
  });
});

describe('events()', () => {
  it('answers next() called several times without awaiting, in order, then done', async () => {
    const job = newEngine().startJob('gc', { library: join(workDir, 'library-events'), dryRun: true });
    const iterator = job.events();
    const answers = await Promise.all([iterator.next(), iterator.next(), iterator.next()]);
    expect(answers.map((answer) => (answer.done === true ? 'done' : answer.value.type))).toEqual(['result', 'done', 'done']);
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  it('answers a pending next() with done when the iterator is returned', async () => {
    const job = newEngine().startJob('gc', { library: join(workDir, 'library-events-return'), dryRun: true });
    const iterator = job.events();
    const pending = iterator.next();
    const returned = iterator.return?.();
    await expect(pending).resolves.toEqual({ done: true, value: undefined });
    await expect(returned).resolves.toEqual({ done: true, value: undefined });
    await job.result;
  });
});

describe('paused jobs in the registry', () => {
  it('keeps the newest 50; resuming an older one is FERRY_INPUT_INVALID naming it', async () => {
    const engine = newEngine();
    const jobs = [];
    for (let index = 0; index < 51; index++) {
      // Paused before it starts: nothing runs, and it ends paused.
      const job = engine.startJob('gc', { library: join(workDir, 'library-paused'), dryRun: true });
      job.pause();
      await expect(job.result).rejects.toMatchObject({ code: 'FERRY_CANCELLED' });
      jobs.push(job);
    }
    // The registry forgets old jobs once a result has settled, a few microtasks later.
    await new Promise((resolve) => setImmediate(resolve));
    const [oldest, ...newest] = jobs;
    expect(engine.jobs().filter((status) => status.state === 'paused').map((status) => status.id)).toEqual(newest.map((job) => job.id));
    expect(() => engine.resumeJob(oldest?.id ?? '')).toThrow(expect.objectContaining({ code: 'FERRY_INPUT_INVALID', field: 'jobId', message: expect.stringContaining(oldest?.id ?? '-') as string }) as Error);
    const resumed = engine.resumeJob(newest[0]?.id ?? '');
    await expect(resumed.result).resolves.toMatchObject({ dryRun: true });
  });
});

describe('plan, query and products', () => {
  it.each(['gc', 'load', 'nope'])('plan(%s) is refused as FERRY_INPUT_INVALID, not run as a sync dry run', async (kind) => {
    const engine = newEngine();
    await expect(engine.plan(kind as 'sync', { library: join(workDir, 'library-plan'), selection: [] })).rejects.toMatchObject({ code: 'FERRY_INPUT_INVALID', field: 'kind' });
    expect(engine.jobs()).toEqual([]);
  });

  it.each([
    ['a null request', null, 'request'],
    ['a negative max', { selection: [], max: -1 }, 'max'],
    ['a max of NaN', { selection: [], max: Number.NaN }, 'max'],
    ['a max that is text', { selection: [], max: '2' }, 'max'],
    ['no selection', {}, 'selection'],
  ])('query and products refuse %s as FERRY_INPUT_INVALID naming the field', (_label, request, field) => {
    const engine = newEngine();
    for (const call of ['query', 'products'] as const) {
      expect(() => engine[call]('no-such-stream', request as never)).toThrow(expect.objectContaining({ code: 'FERRY_INPUT_INVALID', field }) as Error);
    }
  });

  it('refuses a stream id that is not a string as FERRY_INPUT_INVALID naming it', () => {
    expect(() => newEngine().query(1n as unknown as string, { selection: [] })).toThrow(expect.objectContaining({ code: 'FERRY_INPUT_INVALID', field: 'streamId' }) as Error);
  });
});
