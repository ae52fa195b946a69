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
