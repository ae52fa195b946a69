import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { parseCommandLine, type CommandDefinition } from '../../src-main/cli/command.js';
import { mirrorCommand } from '../../src-main/cli/commands/mirror.js';
import { syncCommand } from '../../src-main/cli/commands/sync.js';
import { selectionArguments } from '../../src-main/engine/library.js';
import { publishedMetadataText } from '../../src-main/engine/stream.js';
import { describeItem, type WantedFile } from '../../src-main/mirror/plan.js';
import { readPublishedMetadata, wantedFromPublished } from '../../src-main/mirror/published.js';
import { parseSelection, resolveSource } from '../../src-main/streams/index.js';

// The consistency checker of issue 7 §1, the one checker of trees and libraries: whatever a mirror
// or sync run did (completed, failed, killed at any instant), the state it PUBLISHED — a tree's
// metadata on disk, a library's latest snapshot — must describe files that are present with their
// listed size and hash. It applies the selection and --max to the published versions with
// src-main/mirror/published.ts, the very computation gc keeps files by, so it checks the published
// promise itself, not Stream Ferry's record of what it holds. Runs with --no-item-download publish
// metadata without items on purpose (sstream-mirror's meaning) and are not checked.

export interface PublishedSelection {
  /** Filter arguments as on the command line (`--or` separates groups). */
  filters: readonly string[];
  max?: number | undefined;
}

export interface PublishedStateReport {
  /** Files checked (metadata files not counted). */
  checked: number;
  /** One violation per missing or wrong file; empty when the published state holds. */
  problems: string[];
  /** The sha256 of every blob checked (library only): metadata, wanted and held files. */
  digests: Set<string>;
}

/**
 * Checks a mirror tree: reads the entry file (`streams/v1/index.sjson` unless `entryPath` says
 * otherwise) and every products file it lists as they are on disk, and verifies every file the
 * selection wants from them. A tree with no entry file has published nothing, which holds.
 */
export async function checkPublishedTree(target: string, selection: PublishedSelection, entryPath = 'streams/v1/index.sjson'): Promise<PublishedStateReport> {
  const report = emptyReport();
  const metadata = await readPublishedMetadata(entryPath, async (path) => {
    const bytes = await readFile(join(target, path)).catch(() => undefined);
    return bytes === undefined ? undefined : publishedMetadataText(path, bytes);
  });
  await checkWanted(report, metadata, [selection], async (file) => fileProblem(join(target, file.path), file));
  return report;
}

/**
 * Checks a library: for each source with a snapshot (or only `sourceUrl`), the latest snapshot's
 * metadata blobs must be present with their recorded hash; every file that `selection` — or, when
 * left out, the selection the snapshot recorded and each saved selection of that source — wants
 * from that metadata must be a present blob with its listed size and checksum; and so must every
 * held item's blob.
 */
export async function checkPublishedLibrary(libraryDir: string, selection?: PublishedSelection, sourceUrl?: string): Promise<PublishedStateReport> {
  const snapshots = latestSnapshots(libraryDir).filter((snapshot) => sourceUrl === undefined || snapshot.url === sourceUrl);
  const blobPath = (sha256: string): string => join(libraryDir, 'blobs', 'sha256', sha256.slice(0, 2), sha256);
  const report = emptyReport();
  for (const snapshot of snapshots) {
    const part = emptyReport();
    const files = new Map(snapshot.files.map((file) => [file.path, file]));
    const metadata = await readPublishedMetadata(snapshot.entryPath, async (path) => {
      const file = files.get(path);
      if (file === undefined) return undefined;
      part.digests.add(file.sha256);
      const bytes = await readFile(blobPath(file.sha256)).catch(() => undefined);
      if (bytes === undefined || sha256Hex(bytes) !== file.sha256) {
        part.problems.push(`metadata blob of ${path} (${file.sha256}) is missing or damaged`);
        return undefined;
      }
      return publishedMetadataText(path, bytes);
    });
    const selections = selection === undefined ? snapshot.selections : [selection];
    await checkWanted(part, metadata, selections, async (file) => {
      // An item listing only sha512 or md5 is stored under the sha256 of its bytes, which only the
      // held item records; its blob is then checked against the listed checksum all the same.
      const sha256 = file.sha256?.toLowerCase() ?? snapshot.held.find((item) => item.path === file.path)?.sha256;
      if (sha256 === undefined) return `no blob holds ${file.path}`;
      part.digests.add(sha256);
      return fileProblem(blobPath(sha256), file);
    });
    for (const item of snapshot.held) {
      if (part.digests.has(item.sha256)) continue;
      part.digests.add(item.sha256);
      const bytes = await readFile(blobPath(item.sha256)).catch(() => undefined);
      if (bytes?.length !== item.size || sha256Hex(bytes) !== item.sha256) part.problems.push(`held item ${item.path}: blob ${item.sha256} is missing or damaged`);
    }
    report.checked += part.checked;
    report.problems.push(...part.problems.map((problem) => `snapshot ${snapshot.id}: ${problem}`));
    for (const digest of part.digests) report.digests.add(digest);
  }
  return report;
}

/**
 * For tests that look at a library directly: the published state of every source holds, and there
 * is one. Answers the sha256 of every blob checked, which is exactly what gc must keep.
 */
export async function expectLatestSnapshotsPresent(libraryDir: string): Promise<Set<string>> {
  const report = await checkPublishedLibrary(libraryDir);
  expect(report.problems, `${libraryDir}: the latest snapshots list files that are not present`).toEqual([]);
  expect(report.digests.size, `${libraryDir} has a latest snapshot`).toBeGreaterThan(0);
  return report.digests;
}

function emptyReport(): PublishedStateReport {
  return { checked: 0, problems: [], digests: new Set() };
}

async function checkWanted(
  report: PublishedStateReport,
  metadata: Awaited<ReturnType<typeof readPublishedMetadata>>,
  selections: readonly PublishedSelection[],
  problemOf: (file: WantedFile) => Promise<string | undefined>,
): Promise<void> {
  for (const { path, listedBy } of metadata.unpublished) report.problems.push(`${listedBy} lists ${path}, which is not published`);
  const checkedPaths = new Set<string>();
  for (const selection of selections) {
    const { wanted, rejected } = wantedFromPublished(metadata.products, parseSelection([...selection.filters]), selection.max);
    for (const { item, error } of rejected) report.problems.push(`published metadata lists ${describeItem(item)}, which cannot be verified: ${error.message}`);
    for (const file of wanted.values()) {
      if (checkedPaths.has(file.path)) continue;
      checkedPaths.add(file.path);
      report.checked += 1;
      const problem = await problemOf(file);
      if (problem !== undefined) report.problems.push(`${file.items.map(describeItem).join(', ')}: ${problem}`);
    }
  }
}

async function fileProblem(file: string, wanted: WantedFile): Promise<string | undefined> {
  const stats = await lstat(file).catch(() => undefined);
  if (stats === undefined) return `${wanted.path} is missing (${file})`;
  if (!stats.isFile()) return `${file} is not a regular file`;
  if (stats.size !== wanted.size) return `${file} has ${stats.size} bytes, the metadata lists ${wanted.size}`;
  const { algorithm, hex } = wanted.checksum;
  const actual = await hashFile(file, algorithm);
  return actual === hex ? undefined : `${file} has ${algorithm} ${actual}, the metadata lists ${hex}`;
}

async function hashFile(path: string, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

interface LatestSnapshot {
  id: number;
  url: string;
  entryPath: string;
  files: Array<{ path: string; sha256: string }>;
  /** The items this source holds, as the catalog records them. */
  held: Array<{ path: string; sha256: string; size: number }>;
  /** The selection the snapshot recorded (none before catalog schema 3) and every saved selection of its source. */
  selections: PublishedSelection[];
}

/** Read with raw SQL, not Stream Ferry's Catalog: the checker must not share the code it checks. */
function latestSnapshots(libraryDir: string): LatestSnapshot[] {
  const file = join(libraryDir, 'catalog.db');
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch {
    return [];
  }
  try {
    type StoredSelection = { filter_groups: string | null; max_versions: number | null };
    const asSelection = (row: StoredSelection): PublishedSelection[] =>
      row.filter_groups === null ? [] : [{ filters: selectionArguments(JSON.parse(row.filter_groups) as string[][]), max: row.max_versions ?? undefined }];
    const saved = db
      .prepare<[], StoredSelection & { source: string; path: string | null }>('SELECT source, path, filter_groups, max_versions FROM selections')
      .all()
      .map((row) => ({ url: resolveSource(row.source, { path: row.path ?? undefined }).entryUrl, selection: asSelection(row) }));
    const rows = db
      .prepare<[], StoredSelection & { id: number; source_id: number; url: string; entry_path: string }>(
        `SELECT s.id, s.source_id, src.url, src.entry_path, s.filter_groups, s.max_versions FROM snapshots s JOIN sources src ON src.id = s.source_id
         WHERE s.id IN (SELECT max(id) FROM snapshots GROUP BY source_id)`,
      )
      .all();
    return rows.map((row) => ({
      id: row.id,
      url: row.url,
      entryPath: row.entry_path,
      files: db.prepare<[number], { path: string; sha256: string }>('SELECT path, sha256 FROM snapshot_files WHERE snapshot_id = ?').all(row.id),
      held: db.prepare<[number], { path: string; sha256: string; size: number }>('SELECT path, sha256, size FROM items WHERE source_id = ?').all(row.source_id),
      selections: [...asSelection(row), ...saved.filter((profile) => profile.url === row.url).flatMap((profile) => profile.selection)],
    }));
  } finally {
    db.close();
  }
}

// Every `ferry mirror` and `ferry sync` a test starts is recorded (run-ferry.ts calls
// recordFerryRun), so an afterEach hook can check the state each target was last published with.

interface RecordedRun {
  kind: 'mirror' | 'sync';
  /** The tree (mirror) or library (sync). */
  where: string;
  sourceUrl: string | undefined;
  entryPath: string;
  selection: PublishedSelection;
  /** A sync of a saved selection: its filters and source are read from the catalog at check time. */
  profile?: string | undefined;
}

const recordedRuns = new Map<string, RecordedRun>();

/** Notes a mirror or sync command line (other commands are ignored); run-ferry.ts calls this for every spawn. */
export function recordFerryRun(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): void {
  const [name, ...rest] = args;
  const command: CommandDefinition | undefined = name === 'mirror' ? mirrorCommand : name === 'sync' ? syncCommand : undefined;
  if (command === undefined) return;
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(command, rest);
  } catch {
    return; // A usage error publishes nothing.
  }
  const { options, positionals } = parsed;
  if (options['dry-run'] === true || options['no-item-download'] === true || options['help'] === true) return;
  const path = typeof options['path'] === 'string' ? options['path'] : undefined;
  const max = typeof options['max'] === 'number' ? options['max'] : undefined;
  if (name === 'mirror') {
    const [source, target, ...filters] = positionals;
    if (source === undefined || target === undefined) return;
    const where = resolvePath(cwd, target);
    const entryPath = resolveSource(source, { path, cwd }).entryPath;
    recordedRuns.set(`mirror\0${where}`, { kind: 'mirror', where, sourceUrl: undefined, entryPath, selection: { filters, max } });
    return;
  }
  const libraryOption = typeof options['library'] === 'string' ? options['library'] : env['FERRY_LIBRARY'];
  if (libraryOption === undefined) return;
  const where = resolvePath(cwd, libraryOption);
  const [source, ...filters] = positionals;
  if (source === undefined) {
    // A saved selection: the checker reads it from the catalog when it runs.
    const profile = String(options['profile']);
    recordedRuns.set(`sync\0${where}\0profile:${profile}`, { kind: 'sync', where, sourceUrl: undefined, entryPath: '', selection: { filters: [] }, profile });
    return;
  }
  const resolved = resolveSource(source, { path, cwd });
  recordedRuns.set(`sync\0${where}\0${resolved.entryUrl}`, { kind: 'sync', where, sourceUrl: resolved.entryUrl, entryPath: resolved.entryPath, selection: { filters, max } });
}

/**
 * Checks every tree and library a recorded run published into, then forgets the runs; answers the
 * problems found (each names the target). For an afterEach hook: `expect(await ...).toEqual([])`.
 */
export async function checkRecordedRuns(): Promise<string[]> {
  const problems: string[] = [];
  for (const run of recordedRuns.values()) {
    let report: PublishedStateReport;
    if (run.kind === 'mirror') report = await checkPublishedTree(run.where, run.selection, run.entryPath);
    else {
      const saved = run.profile === undefined ? undefined : savedSelection(run.where, run.profile);
      if (run.profile !== undefined && saved === undefined) continue;
      report = await checkPublishedLibrary(run.where, saved?.selection ?? run.selection, saved?.sourceUrl ?? run.sourceUrl);
    }
    problems.push(...report.problems.map((problem) => `${run.where}: ${problem}`));
  }
  recordedRuns.clear();
  return problems;
}

/** Forgets the recorded runs without checking them (for a test that damages a target on purpose). */
export function forgetRecordedRuns(): void {
  recordedRuns.clear();
}

function savedSelection(libraryDir: string, name: string): { selection: PublishedSelection; sourceUrl: string } | undefined {
  let db: Database.Database;
  try {
    db = new Database(join(libraryDir, 'catalog.db'), { readonly: true, fileMustExist: true });
  } catch {
    return undefined;
  }
  try {
    const row = db
      .prepare<[string], { source: string; path: string | null; filter_groups: string; max_versions: number | null }>(
        'SELECT source, path, filter_groups, max_versions FROM selections WHERE name = ?',
      )
      .get(name);
    if (row === undefined) return undefined;
    const filters = selectionArguments(JSON.parse(row.filter_groups) as string[][]);
    const sourceUrl = resolveSource(row.source, { path: row.path ?? undefined }).entryUrl;
    return { selection: { filters, max: row.max_versions ?? undefined }, sourceUrl };
  } finally {
    db.close();
  }
}

/** For afterEach in every mirror and sync integration test file: the published state of each target run into holds. */
export async function expectRecordedRunsConsistent(): Promise<void> {
  expect(await checkRecordedRuns(), 'published metadata lists files that are not present').toEqual([]);
}
