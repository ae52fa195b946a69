import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Receipt } from '../../../src-main/contract/index.js';
import type { ExportOutcome, JobStatus } from '../../../src-main/engine/api.js';
import { createEngine } from '../../../src-main/engine/engine.js';
import { createHistory } from '../../../src-main/engine/history.js';

// The History screen's receipts and audit log from the jobs an engine recorded: a receipt an export
// read as `since` is read again from its file; an export's audit log is its bundle's audit.jsonl,
// and a bundle that is gone (a drive ejected) is named, not rebuilt. Real files in a temp folder.

let workDir: string;

beforeEach(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-history-'));
});

afterEach(async () => {
  await rm(workDir, { recursive: true, force: true });
});

const receipt: Receipt = {
  format: 'stream-ferry-receipt',
  formatVersion: 1,
  id: '20261129T101500Z-0123abcd',
  created: '2026-11-29T10:15:00.000Z',
  tool: { name: 'stream-ferry', version: '0.1.0' },
  site: 'dc1',
  metadata: [{ path: 'streams/v1/index.sjson', sha256: 'a'.repeat(64), size: 10 }],
  blobs: [{ sha256: 'b'.repeat(64), size: 2048 }],
};

/** A finished export job as the journal records it. */
function exportJob(id: string, startedAt: string, directory: string, since?: string): JobStatus {
  const outcome: ExportOutcome = {
    jobId: id,
    dryRun: false,
    bundleId: `20261130T0${id}0000Z-0123abcd`,
    directories: [directory],
    plan: { layout: 'bundle', files: 1, blobs: 1, blobsCarried: 1, bytesCarried: 1, bytesNeeded: 1, marginBytes: 0, freeBytes: 1, fsType: 'ext4', filesystem: 'ext4', volumes: 1, splitBlobs: 0, base: null, warnings: [] },
    written: { blobsWritten: 1, blobsKept: 0, bytesWritten: 1 },
    verified: { files: 1, bytes: 1, method: 'cached', bad: [] },
    ejected: { kind: 'not-requested' },
    trustWarnings: [],
    signatures: [],
    ledgerSite: null,
  };
  return {
    id,
    kind: 'export',
    input: { to: directory, source: 'stable', ...(since === undefined ? {} : { since }) },
    state: 'succeeded',
    startedAt,
    outcome: { type: 'result', jobId: id, kind: 'export', outcome },
  };
}

describe('History records', () => {
  it('lists a receipt an export read as its base, read again from its file, and names one that is gone', async () => {
    await writeFile(join(workDir, 'dc1.receipt.json'), JSON.stringify(receipt));
    const jobs = [exportJob('1', '2026-11-30T01:00:00.000Z', join(workDir, 'a'), 'dc1.receipt.json'), exportJob('2', '2026-11-30T02:00:00.000Z', join(workDir, 'b'), 'lost.receipt.json')];
    const history = createHistory({ engine: createEngine({ cwd: workDir, env: {} }), dataDir: join(workDir, 'data'), cwd: workDir, jobs: () => jobs });
    const [lost, read] = await history.receipts();
    expect(read).toEqual({ path: join(workDir, 'dc1.receipt.json'), use: 'read', at: '2026-11-30T01:00:00.000Z', jobId: '1', receipt, problem: null });
    expect(lost).toMatchObject({ path: join(workDir, 'lost.receipt.json'), use: 'read', jobId: '2', receipt: null });
    expect(lost?.problem).toMatch(/lost\.receipt\.json: is missing/);
  });

  // A FIFO blocks a plain open() until a writer comes, forever: each file is named unreadable at once.
  it('names a receipt or an audit.jsonl that is a FIFO as not a regular file, without waiting on it', { timeout: 10_000 }, async () => {
    const bundle = join(workDir, 'FERRY', 'bundle');
    await mkdir(bundle, { recursive: true });
    await promisify(execFile)('mkfifo', [join(bundle, 'audit.jsonl'), join(workDir, 'fifo.receipt.json')]);
    const jobs = [exportJob('1', '2026-11-30T01:00:00.000Z', bundle, 'fifo.receipt.json')];
    const history = createHistory({ engine: createEngine({ cwd: workDir, env: {} }), dataDir: join(workDir, 'data'), cwd: workDir, jobs: () => jobs });
    const [audit] = await history.audit();
    expect(audit).toMatchObject({ jobId: '1', entries: [] });
    expect(audit?.problem).toMatch(/audit\.jsonl could not be read .*is not a regular file but a FIFO/);
    const [read] = await history.receipts();
    expect(read).toMatchObject({ jobId: '1', receipt: null });
    expect(read?.problem).toMatch(/fifo\.receipt\.json: .*is not a regular file but a FIFO/);
  });

  it("reads each export's audit.jsonl, newest first, and says when its bundle cannot be read", async () => {
    const bundle = join(workDir, 'FERRY', 'bundle');
    await mkdir(bundle, { recursive: true });
    await writeFile(join(bundle, 'audit.jsonl'), `${JSON.stringify({ event: 'fetched', at: null })}\n${JSON.stringify({ event: 'exported', at: '2026-11-30T01:00:00.000Z' })}\n`);
    const jobs = [exportJob('1', '2026-11-30T01:00:00.000Z', bundle), exportJob('2', '2026-11-30T02:00:00.000Z', join(workDir, 'ejected'))];
    const history = createHistory({ engine: createEngine({ cwd: workDir, env: {} }), dataDir: join(workDir, 'data'), cwd: workDir, jobs: () => jobs });
    const [ejected, present] = await history.audit();
    expect(present).toEqual({ bundleId: '20261130T010000Z-0123abcd', jobId: '1', directory: bundle, entries: [{ event: 'fetched', at: null }, { event: 'exported', at: '2026-11-30T01:00:00.000Z' }], problem: null });
    expect(ejected).toMatchObject({ jobId: '2', entries: [] });
    expect(ejected?.problem).toMatch(/audit\.jsonl could not be read \(a drive ejected or a folder moved since\?\)/);
  });
});
