import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { expect } from 'vitest';
import { clearsign, createSigningKey, type SigningKey } from '../../../src-main/pgp/index.js';
import { startFixtureServer, type FixtureServer, type RequestLogEntry } from '../../support/fixture-server.js';
import { generateStream, type GeneratedStream, type StreamOptions } from '../../support/stream-generator.js';
import type { FerryRun } from '../../support/run-ferry.js';
import type { PlanEntry } from '../../../src-main/engine/index.js';

// Shared by the `ferry mirror` integration tests. Expectations are derived from the upstream
// metadata files on disk (the unsigned .json twins the generator writes beside each .sjson), never
// from Stream Ferry's own modules, so a bug there cannot hide in the expectation.

export const MIB = 1024 * 1024;
export const KIB = 1024;
export const STATE_FOLDER = '.ferry';

export interface TestKey {
  key: SigningKey;
  /** A binary keyring file holding only this key's public half, for --keyring. */
  keyringFile: string;
}

export async function makeWorkDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `ferry-mirror-${label}-`));
}

export async function makeKey(workDir: string, name: string): Promise<TestKey> {
  const key = await createSigningKey({ name, email: 'mirror-tests@stream-ferry.invalid' });
  const keyringFile = join(workDir, 'keyring.gpg');
  await writeFile(keyringFile, key.publicKeyBinary);
  return { key, keyringFile };
}

/** One item as upstream lists it, with its place in the reference's walk order (a plan entry's fields, and more). */
export interface ListedItem extends Omit<PlanEntry, 'change'> {
  sha256: string;
  productFields: Readonly<Record<string, unknown>>;
}

export interface ListedFile {
  path: string;
  size: number;
  sha256: string;
}

export interface ProductsJson {
  products: Record<string, Record<string, unknown> & { versions: Record<string, { items: Record<string, { path: string; size: number; sha256: string }> }> }>;
}

export interface IndexJson {
  index: Record<string, { path: string }>;
}

/** The products files the unsigned index lists, in index order: [contentId, .json path]. */
export async function productsFilesOf(streamDir: string): Promise<Array<[string, string]>> {
  const index = JSON.parse(await readFile(join(streamDir, 'streams/v1/index.json'), 'utf8')) as IndexJson;
  return Object.entries(index.index).map(([contentId, entry]) => [contentId, entry.path]);
}

export interface Selection {
  /** Keep only the newest N versions of each product (plain string order), as --max does on a fresh target. */
  max?: number;
  /** Which products are selected; default all. */
  product?: (fields: Readonly<Record<string, unknown>>, name: string) => boolean;
}

/**
 * Items of versions to add, in the order sstream-mirror walks them: index order, products by name
 * (the JSON is written with sorted keys), versions newest first, items by name.
 */
export async function listedItems(streamDir: string, selection: Selection = {}): Promise<ListedItem[]> {
  const items: ListedItem[] = [];
  for (const [contentId, path] of await productsFilesOf(streamDir)) {
    const document = JSON.parse(await readFile(join(streamDir, path), 'utf8')) as ProductsJson;
    for (const [product, fields] of Object.entries(document.products)) {
      if (selection.product !== undefined && !selection.product(fields, product)) continue;
      const newestFirst = Object.keys(fields.versions).sort().reverse();
      const kept = selection.max === undefined ? newestFirst : newestFirst.slice(0, selection.max);
      for (const version of kept) {
        const versionItems = fields.versions[version]?.items ?? {};
        for (const name of Object.keys(versionItems).sort()) {
          const entry = versionItems[name];
          if (entry === undefined) continue;
          items.push({ contentId, product, version, item: name, path: entry.path, size: entry.size, sha256: entry.sha256, productFields: fields });
        }
      }
    }
  }
  return items;
}

/** Distinct files of the items, by path. */
export function filesOf(items: readonly ListedItem[]): Map<string, ListedFile> {
  const files = new Map<string, ListedFile>();
  for (const item of items) files.set(item.path, { path: item.path, size: item.size, sha256: item.sha256 });
  return files;
}

/** The signed metadata a mirror of a .sjson source must hold: every products .sjson and the index. */
export async function signedMetadataPaths(streamDir: string): Promise<string[]> {
  const products = (await productsFilesOf(streamDir)).map(([, path]) => path.replace(/\.json$/, '.sjson'));
  return [...products, 'streams/v1/index.sjson'];
}

/** Every regular file under root, relative and with '/' separators; `.ferry/` is skipped unless asked. */
export async function walkFiles(root: string, options: { includeState?: boolean } = {}): Promise<string[]> {
  const found: string[] = [];
  const visit = async (relative: string): Promise<void> => {
    const entries = await readdir(join(root, relative), { withFileTypes: true }).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    });
    for (const entry of entries) {
      const child = relative === '' ? entry.name : posix.join(relative, entry.name);
      if (relative === '' && entry.name === STATE_FOLDER && options.includeState !== true) continue;
      if (entry.isDirectory()) await visit(child);
      else found.push(child);
    }
  };
  await visit('');
  return found.sort();
}

/** Every directory under root (`.ferry/` skipped), relative. */
export async function walkDirectories(root: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (relative: string): Promise<void> => {
    for (const entry of await readdir(join(root, relative), { withFileTypes: true })) {
      if (!entry.isDirectory() || (relative === '' && entry.name === STATE_FOLDER)) continue;
      const child = relative === '' ? entry.name : posix.join(relative, entry.name);
      found.push(child);
      await visit(child);
    }
  };
  await visit('');
  return found.sort();
}

/** The name of a tree's resumable download of `file`: its sha256, then 16 hex of its path's sha256 (TreeStore.partialPath). */
export function partialNameOf(file: Pick<ListedFile, 'path' | 'sha256'>): string {
  return `${file.sha256}-${createHash('sha256').update(file.path).digest('hex').slice(0, 16)}`;
}

/** Resumable downloads in the state folder, by the path of the file they will become. */
export async function partialSizes(target: string, listed: ReadonlyMap<string, ListedFile>): Promise<Map<string, number>> {
  const byHash = new Map([...listed.values()].map((file) => [partialNameOf(file), file.path]));
  const partialDir = join(target, STATE_FOLDER, 'tmp', 'partial');
  const sizes = new Map<string, number>();
  const names = await readdir(partialDir).catch(() => [] as string[]);
  for (const name of names) {
    const path = byHash.get(name);
    if (path !== undefined) sizes.set(path, (await lstat(join(partialDir, name))).size);
  }
  return sizes;
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

export async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Every file outside `.ferry/` must be either a listed data file with its listed sha256 and size,
 * or a signed metadata file byte-identical to upstream's. Returns the data files found.
 */
export async function expectNothingUnverified(target: string, streamDir: string, listed: ReadonlyMap<string, ListedFile>): Promise<string[]> {
  const metadata = new Set(await signedMetadataPaths(streamDir));
  const dataFiles: string[] = [];
  for (const path of await walkFiles(target)) {
    if (metadata.has(path)) {
      const [ours, theirs] = await Promise.all([readFile(join(target, path)), readFile(join(streamDir, path))]);
      expect(ours.equals(theirs), `${path} differs from upstream`).toBe(true);
      continue;
    }
    const expected = listed.get(path);
    expect(expected, `${path} is in the mirror but no selected item lists it`).toBeDefined();
    if (expected === undefined) continue;
    const stats = await lstat(join(target, path));
    expect(stats.size, `size of ${path}`).toBe(expected.size);
    expect(await sha256OfFile(join(target, path)), `sha256 of ${path}`).toBe(expected.sha256);
    dataFiles.push(path);
  }
  return dataFiles;
}

/** The complete mirror: exactly the listed files, each verified, plus exactly the signed metadata. */
export async function expectCompleteMirror(target: string, streamDir: string, listed: ReadonlyMap<string, ListedFile>): Promise<void> {
  const dataFiles = await expectNothingUnverified(target, streamDir, listed);
  expect(dataFiles.sort()).toEqual([...listed.keys()].sort());
  const metadata = await signedMetadataPaths(streamDir);
  const present = new Set(await walkFiles(target));
  for (const path of metadata) expect(present.has(path), `${path} is missing from the mirror`).toBe(true);
}

export interface JsonEvent {
  type: string;
  [field: string]: unknown;
}

/** `--json` output: every stdout line must be one JSON object with a type. */
export function parseJsonLines(stdout: string): JsonEvent[] {
  const lines = stdout.split('\n').filter((line) => line !== '');
  return lines.map((line) => {
    const event = JSON.parse(line) as JsonEvent;
    expect(typeof event.type, line).toBe('string');
    return event;
  });
}

export function describeRun(run: FerryRun): string {
  return `exit ${String(run.code)}${run.signal === null ? '' : ` (${run.signal})`}\nstdout:\n${run.stdout.slice(-4000)}\nstderr:\n${run.stderr.slice(-4000)}`;
}

/** Requests for item files (anything outside streams/v1/). */
export function dataRequests(server: FixtureServer): RequestLogEntry[] {
  return server.requestLog.filter((entry) => !entry.path.includes('streams/v1/'));
}

/**
 * Rewrites one products file (its .json and, clearsigned, its .sjson) after `edit`, as a publisher
 * would: same formatting as the generator (sorted keys, indent 1, final newline).
 */
export async function editProducts(streamDir: string, jsonPath: string, key: SigningKey, edit: (document: ProductsJson) => void): Promise<void> {
  const document = JSON.parse(await readFile(join(streamDir, jsonPath), 'utf8')) as ProductsJson;
  edit(document);
  const text = `${JSON.stringify(document, null, 1)}\n`;
  await writeFile(join(streamDir, jsonPath), text);
  await writeFile(join(streamDir, jsonPath.replace(/\.json$/, '.sjson')), await clearsign(text, key.privateKeyArmored));
}

export async function removeQuietly(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `+ product version item path N Mb`, as sstream-mirror prints it. */
export function referenceLine(sign: '+' | '-', item: ListedItem): string {
  return `${sign} ${item.product} ${item.version} ${item.item} ${item.path} ${Math.trunc(item.size / MIB)} Mb`;
}

/**
 * Two products (jammy and noble, amd64) with small files and `versions` versions, for the
 * all-or-nothing tests (issue 7 §1): regenerating with one more adds a version to both.
 */
export function twoProductStream(key: SigningKey, versions: number): StreamOptions {
  return { ...twoProductShape(versions), signingKey: key };
}

/** twoProductStream without its key, for serveSignedStream, which makes the key. */
export function twoProductShape(versions: number): Omit<StreamOptions, 'signingKey'> {
  return {
    contents: ['ubuntu'],
    releases: ['jammy', 'noble'],
    arches: ['amd64'],
    versions,
    payloadSizes: { squashfs: 64 * KIB, 'boot-initrd': 16 * KIB, 'boot-kernel': 8 * KIB, manifest: 1 * KIB },
  };
}

/** One version of Ubuntu noble's GA kernel product per architecture, with these file sizes. */
export function nobleShape(arches: readonly string[], payloadSizes: StreamOptions['payloadSizes']): Omit<StreamOptions, 'signingKey'> {
  return { contents: ['ubuntu'], releases: ['noble'], arches, versions: 1, payloadSizes };
}

/** About 11 MiB in 10 files (nobleShape, amd64 and arm64): more than the small test disks hold once filled. */
export const ELEVEN_MIB_SIZES: StreamOptions['payloadSizes'] = { squashfs: 4 * MIB, 'boot-initrd': 1 * MIB, 'boot-kernel': 512 * KIB, manifest: 4 * KIB };

/** A signed stream generated under `workDir`, served on loopback, with what a mirror test needs of it. */
export interface ServedStream {
  testKey: TestKey;
  stream: GeneratedStream;
  server: FixtureServer;
  /** The signed entry URL (streams/v1/index.sjson). */
  source: string;
  listed: Map<string, ListedFile>;
}

export async function serveSignedStream(workDir: string, keyName: string, options: Omit<StreamOptions, 'signingKey'>): Promise<ServedStream> {
  const testKey = await makeKey(workDir, keyName);
  const stream = await generateStream(join(workDir, 'stream'), { ...options, signingKey: testKey.key });
  const server = await startFixtureServer({ root: stream.baseDir });
  return { testKey, stream, server, source: `${server.url}streams/v1/index.sjson`, listed: filesOf(await listedItems(stream.baseDir)) };
}
