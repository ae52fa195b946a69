// A damaged jobs.json (issue 10, the job history) must not stop `ferry ui` from starting: entries
// that are not jobs are skipped, a file that is not JSON is named as such, and the file as it was
// is kept aside beside it. Real files in a temp folder, the real service.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServerMessage } from '../../../src-main/contract/index.js';
import { createApiService } from '../../../src-main/engine/index.js';

let dataDir: string;
const warnings: string[] = [];
const onWarning = (warning: Error): void => {
  if (warning.name === 'FerryJournalWarning') warnings.push(warning.message);
};

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ferry-app-data-'));
  warnings.length = 0;
  process.on('warning', onWarning);
});

afterEach(async () => {
  process.off('warning', onWarning);
  await rm(dataDir, { recursive: true, force: true });
});

const good = { id: 'job-good', kind: 'mirror', input: { stream: { source: 'stable' }, target: '/srv/maas' }, state: 'succeeded', startedAt: '2026-11-30T01:00:00.000Z' };

/** Starts the service on `dataDir` and makes one call as a client does; its reply. */
async function reply(call: string, input: unknown): Promise<ServerMessage> {
  const service = await createApiService({ library: dataDir, env: {}, cwd: dataDir });
  try {
    return await new Promise<ServerMessage>((resolve) => {
      service.connect(resolve).receive({ type: 'call', id: 1, call, input });
    });
  } finally {
    await service.close();
  }
}

/** The jobs the service lists, as the UI asks for them. */
async function listedJobs(): Promise<unknown> {
  const listed = await reply('jobs.list', {});
  expect(listed).toMatchObject({ type: 'reply', ok: true });
  return listed.type === 'reply' && listed.ok ? listed.value : undefined;
}

/** process.emitWarning is delivered on the next tick. */
const warningsSoon = async (): Promise<string[]> => {
  await new Promise((resolve) => setImmediate(resolve));
  return warnings;
};

describe('a damaged jobs.json', () => {
  it('skips an entry that is not a job, keeps the others, and keeps the file as it was aside', async () => {
    const original = JSON.stringify({ version: 1, jobs: [good, { ...good, id: 'job-from-later', kind: 'teleport' }] });
    await writeFile(join(dataDir, 'jobs.json'), original);
    expect(await listedJobs()).toEqual([expect.objectContaining({ id: 'job-good', state: 'succeeded' })]);
    const aside = (await readdir(dataDir)).filter((name) => name.startsWith('jobs.json.damaged-'));
    expect(aside).toHaveLength(1);
    expect(await readFile(join(dataDir, aside[0] as string), 'utf8')).toBe(original);
    expect(JSON.parse(await readFile(join(dataDir, 'jobs.json'), 'utf8'))).toMatchObject({ jobs: [{ id: 'job-good' }] });
    expect(await warningsSoon()).toEqual([expect.stringMatching(/kept aside as .*jobs\.json\.damaged-.*1 of its 2 jobs are not jobs this Stream Ferry reads/)]);
  });

  it('names a file cut short as not JSON, keeps it aside and starts an empty history', async () => {
    const original = JSON.stringify({ version: 1, jobs: [good] }).slice(0, 40);
    await writeFile(join(dataDir, 'jobs.json'), original);
    expect(await listedJobs()).toEqual([]);
    const aside = (await readdir(dataDir)).filter((name) => name.startsWith('jobs.json.damaged-'));
    expect(aside).toHaveLength(1);
    expect(await readFile(join(dataDir, aside[0] as string), 'utf8')).toBe(original);
    const [warning] = await warningsSoon();
    expect(warning).toMatch(/jobs\.json is not JSON \(cut short or damaged\)/);
    expect(warning).not.toMatch(/Invalid input/);
  });
});

describe('a call naming a job the service does not have', () => {
  it('says which kind of job has no such id, in a sentence', async () => {
    const refusal = async (call: string): Promise<unknown> => {
      const answer = await reply(call, { jobId: 'no-such-job' });
      return answer.type === 'reply' && !answer.ok ? answer.error.message : answer;
    };
    expect(await refusal('jobs.resume')).toBe('No paused or interrupted job has the id "no-such-job".');
    expect(await refusal('jobs.pause')).toBe('No running job has the id "no-such-job".');
    expect(await refusal('jobs.get')).toBe('No job this engine ran or recorded has the id "no-such-job".');
  });
});
