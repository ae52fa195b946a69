import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import type { GcOutcome, LibrarySummary, SyncOutcome } from '../../../src-main/engine/index.js';
import { startFixtureServer, type FixtureServer } from '../../support/fixture-server.js';
import { runFerry, type FerryRun } from '../../support/run-ferry.js';
import { generateStream } from '../../support/stream-generator.js';
import { KIB, describeRun, makeKey, makeWorkDir, removeQuietly, sha256OfFile, signedMetadataPaths, type ListedFile, type TestKey } from '../mirror/helpers.js';

// Shared by the library integration tests (`ferry sync`, `ferry library`, `ferry gc`). As in the
// mirror tests, expectations come from upstream's files and from reading the library's folder and
// catalog directly, never from Stream Ferry's modules.

export interface BlobOnDisk {
  sha256: string;
  path: string;
  size: number;
}

/** Every file under blobs/, by its name; a file that is not where its name says fails the test. */
export async function blobsOnDisk(libraryDir: string): Promise<Map<string, BlobOnDisk>> {
  const root = join(libraryDir, 'blobs', 'sha256');
  const blobs = new Map<string, BlobOnDisk>();
  for (const fanOut of await readdir(root, { withFileTypes: true })) {
    expect(fanOut.isDirectory(), `${fanOut.name} in ${root}`).toBe(true);
    for (const entry of await readdir(join(root, fanOut.name), { withFileTypes: true })) {
      expect(entry.name.startsWith(fanOut.name), `${entry.name} under ${fanOut.name}/`).toBe(true);
      const path = join(root, fanOut.name, entry.name);
      blobs.set(entry.name, { sha256: entry.name, path, size: (await readFile(path)).length });
    }
  }
  return blobs;
}

/** Re-hashes every blob: each must hold exactly the bytes its name promises. */
export async function expectBlobsMatchTheirNames(libraryDir: string): Promise<Map<string, BlobOnDisk>> {
  const blobs = await blobsOnDisk(libraryDir);
  for (const blob of blobs.values()) expect(await sha256OfFile(blob.path), blob.path).toBe(blob.sha256);
  return blobs;
}

/** sha256 of each signed metadata file upstream serves now (what a complete sync records). */
export async function upstreamMetadata(streamDir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const path of await signedMetadataPaths(streamDir)) files.set(path, await readFile(join(streamDir, path)));
  return files;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function sha256sOf(files: Iterable<ListedFile>): Set<string> {
  return new Set([...files].map((file) => file.sha256));
}

export interface SnapshotRow {
  id: number;
  signed: number;
  keyring_fingerprints: string;
  files: Array<{ path: string; sha256: string; size: number }>;
}

/** Reads the catalog as any SQLite client would, read-only. */
export function readCatalog<T>(libraryDir: string, read: (db: Database.Database) => T): T {
  const db = new Database(join(libraryDir, 'catalog.db'), { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

export function latestSnapshot(libraryDir: string): SnapshotRow | undefined {
  return readCatalog(libraryDir, (db) => {
    const row = db
      .prepare<[], Omit<SnapshotRow, 'files'>>('SELECT id, signed, keyring_fingerprints FROM snapshots ORDER BY id DESC LIMIT 1')
      .get();
    if (row === undefined) return undefined;
    const files = db
      .prepare<[number], SnapshotRow['files'][number]>('SELECT path, sha256, size FROM snapshot_files WHERE snapshot_id = ? ORDER BY path')
      .all(row.id);
    return { ...row, files };
  });
}

export function jobsOf(libraryDir: string, kind: string): Array<{ id: string; status: string; summary: unknown; events: string[] }> {
  return readCatalog(libraryDir, (db) =>
    db
      .prepare<[string], { id: string; status: string; summary: string | null }>('SELECT id, status, summary FROM jobs WHERE kind = ? ORDER BY started_at')
      .all(kind)
      .map((job) => ({
        id: job.id,
        status: job.status,
        summary: job.summary === null ? null : (JSON.parse(job.summary) as unknown),
        events: db.prepare<[string], string>('SELECT type FROM job_events WHERE job_id = ? ORDER BY seq').pluck().all(job.id),
      })),
  );
}

/** Runs ferry and fails the test, showing its output, unless it exits with `expectedCode`. */
export async function ferryOk(args: readonly string[], expectedCode = 0, env: NodeJS.ProcessEnv = {}): Promise<FerryRun> {
  const run = await runFerry(args, { env });
  expect(run.code, `ferry ${args.join(' ')}\n${describeRun(run)}`).toBe(expectedCode);
  return run;
}

/** The one JSON document a `--json` command prints, or the last line (the result) of a job's event lines. */
function lastJsonDocument(run: FerryRun): unknown {
  const text = run.stdout.trim();
  if (text.startsWith('{\n')) return JSON.parse(text);
  return JSON.parse(text.split('\n').at(-1) ?? '');
}

export function syncResult(run: FerryRun): SyncOutcome & { exitCode: number } {
  return lastJsonDocument(run) as SyncOutcome & { exitCode: number };
}

export function librarySummary(run: FerryRun): LibrarySummary {
  return lastJsonDocument(run) as LibrarySummary;
}

export function gcOutcome(run: FerryRun): GcOutcome {
  return lastJsonDocument(run) as GcOutcome;
}

export interface SmallStream {
  workDir: string;
  testKey: TestKey;
  server: FixtureServer;
  /** The signed index URL to sync from. */
  source: string;
}

/** A work folder, a signing key and one signed noble/amd64 version served on loopback, of `squashfsKib` KiB. */
export async function startSmallStream(label: string, squashfsKib: number): Promise<SmallStream> {
  const workDir = await makeWorkDir(label);
  const testKey = await makeKey(workDir, `${label} test`);
  const streamDir = join(workDir, 'stream');
  await generateStream(streamDir, {
    signingKey: testKey.key,
    contents: ['ubuntu'],
    releases: ['noble'],
    arches: ['amd64'],
    versions: 1,
    payloadSizes: { squashfs: squashfsKib * KIB, 'boot-initrd': 8 * KIB, 'boot-kernel': 4 * KIB },
  });
  const server = await startFixtureServer({ root: streamDir });
  return { workDir, testKey, server, source: `${server.url}streams/v1/index.sjson` };
}

export async function stopSmallStream(stream: SmallStream | undefined): Promise<void> {
  await stream?.server.close();
  if (stream !== undefined) await removeQuietly(stream.workDir);
}
