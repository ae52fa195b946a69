import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { parseCommandLine, type CommandDefinition } from '../../src-main/cli/command.js';
import { mirrorCommand } from '../../src-main/cli/commands/mirror.js';
import { syncCommand } from '../../src-main/cli/commands/sync.js';
import { readClearsignedBody } from '../../src-main/pgp/index.js';
import {
  entriesToFollow,
  OR_SEPARATOR,
  newestVersions,
  parseSelection,
  parseStreamDocument,
  resolveSource,
  selectVersions,
  type Selection,
  type StreamItem,
} from '../../src-main/streams/index.js';

// The consistency checker of issue 7 §1: whatever a mirror or sync run did (completed, failed,
// killed at any instant), the state it PUBLISHED — a tree's metadata on disk, a library's latest
// snapshot — must describe files that are present with their listed size and hash. It applies the
// selection and --max to the published versions with the real streams/ module, so it checks the
// published promise itself, not Stream Ferry's record of what it holds. Runs with
// --no-item-download publish metadata without items on purpose (sstream-mirror's meaning) and are
// not checked.

export interface PublishedSelection {
  /** Filter arguments as on the command line (`--or` separates groups). */
  filters: readonly string[];
  max?: number | undefined;
}

/** One violation per missing or wrong file; empty when the published state holds. */
export type PublishedStateReport = { checked: number; problems: string[] };

/**
 * Checks a mirror tree: reads the entry file (`streams/v1/index.sjson` unless `entryPath` says
 * otherwise) and every products file it lists as they are on disk, and verifies every file the
 * selection wants from them. A tree with no entry file has published nothing, which holds.
 */
export async function checkPublishedTree(target: string, selection: PublishedSelection, entryPath = 'streams/v1/index.sjson'): Promise<PublishedStateReport> {
  const read = async (path: string): Promise<Buffer | undefined> => readFile(join(target, path)).catch(() => undefined);
  return checkPublished(read, entryPath, selection, async (item) => fileProblem(join(target, item.path), item));
}

/**
 * Checks a library: for each source with a snapshot (or only `sourceUrl`), the latest snapshot's
 * metadata blobs must be present with their recorded hash, and every file the selection wants from
 * that metadata must be a present blob with its listed size and sha256.
 */
export async function checkPublishedLibrary(libraryDir: string, selection: PublishedSelection, sourceUrl?: string): Promise<PublishedStateReport> {
  const snapshots = latestSnapshots(libraryDir).filter((snapshot) => sourceUrl === undefined || snapshot.url === sourceUrl);
  const blobPath = (sha256: string): string => join(libraryDir, 'blobs', 'sha256', sha256.slice(0, 2), sha256);
  const report: PublishedStateReport = { checked: 0, problems: [] };
  for (const snapshot of snapshots) {
    const files = new Map(snapshot.files.map((file) => [file.path, file]));
    const read = async (path: string): Promise<Buffer | undefined> => {
      const file = files.get(path);
      if (file === undefined) return undefined;
      const bytes = await readFile(blobPath(file.sha256)).catch(() => undefined);
      if (bytes === undefined || sha256Hex(bytes) !== file.sha256) {
        report.problems.push(`snapshot ${snapshot.id}: metadata blob of ${path} (${file.sha256}) is missing or damaged`);
        return undefined;
      }
      return bytes;
    };
    const part = await checkPublished(read, snapshot.entryPath, selection, async (item) => {
      // An item listing only sha512 or md5 is stored under the sha256 of its bytes, which only the
      // held item records; its blob is then checked against the listed checksum all the same.
      const sha256 = item.checksums.sha256?.toLowerCase() ?? snapshot.heldSha256(item.path);
      if (sha256 === undefined) return `${describe(item)}: no blob holds ${item.path}`;
      return fileProblem(blobPath(sha256), item);
    });
    report.checked += part.checked;
    report.problems.push(...part.problems.map((problem) => `snapshot ${snapshot.id}: ${problem}`));
  }
  return report;
}

async function checkPublished(
  read: (path: string) => Promise<Buffer | undefined>,
  entryPath: string,
  published: PublishedSelection,
  problemOf: (item: StreamItem & { path: string }) => Promise<string | undefined>,
): Promise<PublishedStateReport> {
  const report: PublishedStateReport = { checked: 0, problems: [] };
  const entry = await read(entryPath);
  if (entry === undefined) return report;
  const selection: Selection = parseSelection([...published.filters]);
  const checkedPaths = new Set<string>();
  const visit = async (path: string, bytes: Buffer): Promise<void> => {
    const text = path.endsWith('.sjson') ? readClearsignedBody(bytes, path) : bytes.toString('utf8');
    const document = parseStreamDocument(text, path);
    if (document.kind === 'index') {
      for (const child of entriesToFollow(document)) {
        const childPath = child.path ?? '';
        const childBytes = await read(childPath);
        if (childBytes === undefined) report.problems.push(`${path} lists ${childPath}, which is not published`);
        else await visit(childPath, childBytes);
      }
      return;
    }
    for (const product of selectVersions(document, selection)) {
      const kept = new Set(newestVersions(product.versions.map((version) => version.name), published.max));
      for (const version of product.versions) {
        if (!kept.has(version.name)) continue;
        for (const item of version.items) {
          if (item.path === undefined || checkedPaths.has(item.path)) continue;
          checkedPaths.add(item.path);
          report.checked += 1;
          const problem = await problemOf(item as StreamItem & { path: string });
          if (problem !== undefined) report.problems.push(`${path}: ${problem}`);
        }
      }
    }
  };
  await visit(entryPath, entry);
  return report;
}

async function fileProblem(file: string, item: StreamItem & { path: string }): Promise<string | undefined> {
  const stats = await lstat(file).catch(() => undefined);
  if (stats === undefined) return `${describe(item)}: ${item.path} is missing (${file})`;
  if (!stats.isFile()) return `${describe(item)}: ${file} is not a regular file`;
  if (item.size !== undefined && stats.size !== item.size) return `${describe(item)}: ${file} has ${stats.size} bytes, the metadata lists ${item.size}`;
  const [algorithm, listed] = strongest(item);
  if (listed === undefined) return undefined;
  const actual = await hashFile(file, algorithm);
  return actual === listed.toLowerCase() ? undefined : `${describe(item)}: ${file} has ${algorithm} ${actual}, the metadata lists ${listed}`;
}

function strongest(item: StreamItem): ['sha512' | 'sha256' | 'md5', string | undefined] {
  if (item.checksums.sha256 !== undefined) return ['sha256', item.checksums.sha256];
  if (item.checksums.sha512 !== undefined) return ['sha512', item.checksums.sha512];
  return ['md5', item.checksums.md5];
}

function describe(item: StreamItem): string {
  return `${item.contentId}/${item.productName}/${item.versionName}/${item.itemName}`;
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
  /** The sha256 of the bytes this source holds at an item path, as its held items record it. */
  heldSha256: (path: string) => string | undefined;
  url: string;
  entryPath: string;
  files: Array<{ path: string; sha256: string }>;
}

function latestSnapshots(libraryDir: string): LatestSnapshot[] {
  const file = join(libraryDir, 'catalog.db');
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch {
    return [];
  }
  try {
    const rows = db
      .prepare<[], { id: number; source_id: number; url: string; entry_path: string }>(
        'SELECT MAX(s.id) AS id, s.source_id AS source_id, src.url AS url, src.entry_path AS entry_path FROM snapshots s JOIN sources src ON src.id = s.source_id GROUP BY s.source_id',
      )
      .all();
    const held = db.prepare<[number], { path: string; sha256: string }>('SELECT path, sha256 FROM items WHERE source_id = ?');
    return rows.map((row) => ({
      id: row.id,
      heldSha256: ((byPath) => (path: string) => byPath.get(path))(new Map(held.all(row.source_id).map((item) => [item.path, item.sha256]))),
      url: row.url,
      entryPath: row.entry_path,
      files: db.prepare<[number], { path: string; sha256: string }>('SELECT path, sha256 FROM snapshot_files WHERE snapshot_id = ?').all(row.id),
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
    const groups = JSON.parse(row.filter_groups) as string[][];
    const filters = groups.flatMap((group, index) => (index === 0 ? group : [OR_SEPARATOR, ...group]));
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
