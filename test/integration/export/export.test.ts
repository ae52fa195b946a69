import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateStream, tamperFile } from '../../support/stream-generator.js';
import { runFerry, type FerryRun } from '../../support/run-ferry.js';
import { describeRun, exists, makeWorkDir, removeQuietly, serveSignedStream, twoProductShape, walkFiles, type ServedStream } from '../mirror/helpers.js';
import { blobSet, bundleDirs, expectCompleteVolume, expectOk, fileSet, lastLine, readManifest, targetFolder } from './helpers.js';

// `ferry export` (issue 9 §2, §3, §5) as an operator runs it, against a signed stream served on
// loopback: from the library and from a tree made by `ferry mirror`, into plain folders. Real
// files, real SQLite, coreutils' sha256sum as the judge of SHA256SUMS.

let workDir: string;
let served: ServedStream;
let library: string;
let keyring: string[];

const ferry = (args: readonly string[]): Promise<FerryRun> => runFerry(args, { timeoutMs: 120_000 });

beforeAll(async () => {
  workDir = await makeWorkDir('export');
  served = await serveSignedStream(workDir, 'Export test', twoProductShape(2));
  keyring = ['--keyring', served.testKey.keyringFile];
  library = join(workDir, 'library');
  expectOk(await ferry(['sync', '--library', library, ...keyring, served.source]));
});

afterAll(async () => {
  await served.server.close();
  await removeQuietly(workDir);
});

describe('ferry export from the library to a folder', () => {
  it('writes a complete bundle, read back and verified, and prints its directory last', async () => {
    const target = await targetFolder(join(workDir, 'folder'));
    const run = expectOk(await ferry(['export', '--to', target, '--library', library, ...keyring, served.source]));
    const [dir] = await bundleDirs(target);
    expect(lastLine(run)).toBe(dir);
    const manifest = await expectCompleteVolume(dir ?? '');
    // Every file of the served tree, items and signed metadata, each with its own blob.
    const items = [...served.listed.values()];
    expect(manifest.files.filter((file) => file.role === 'item').map((file) => file.path).sort()).toEqual(items.map((file) => file.path).sort());
    expect(manifest.files.filter((file) => file.role === 'metadata').map((file) => file.path).sort()).toEqual([
      'streams/v1/com.ubuntu.maas:stable:v3:download.sjson',
      'streams/v1/index.sjson',
    ]);
    for (const file of manifest.files) {
      expect(manifest.blobs.some((blob) => blob.sha256 === file.sha256), file.path).toBe(true);
      expect(await readFile(join(served.stream.baseDir, file.path))).toHaveLength(file.size);
    }
    expect(manifest.signatures.map((signature) => signature.path).sort()).toEqual(manifest.files.filter((file) => file.path.endsWith('.sjson')).map((file) => file.path).sort());
    expect(manifest.keyrings).toHaveLength(1);
    expect(await readFile(join(dir ?? '', manifest.keyrings[0]?.file ?? ''))).toEqual(await readFile(served.testKey.keyringFile));
    const audit = (await readFile(join(dir ?? '', 'audit.jsonl'), 'utf8')).trimEnd().split('\n').map((line) => JSON.parse(line) as { event: string });
    expect(audit.map((record) => record.event)).toEqual(['fetched', 'verified', 'verified', 'exported']);
    expect(await readFile(join(dir ?? '', 'import.sh'), 'utf8')).toMatch(/^#!\/bin\/sh/);
    expect(run.stderr).toMatch(/Verified: \d+ file\(s\) .* read back/);
  });

  it('says the verdict and writes nothing in a dry run', async () => {
    const target = await targetFolder(join(workDir, 'dry'));
    const run = expectOk(await ferry(['export', '--dry-run', '--json', '--to', target, '--library', library, ...keyring, served.source]));
    const result = JSON.parse(lastLine(run)) as { dryRun: boolean; plan: { files: number; blobsCarried: number }; written: unknown };
    expect(result).toMatchObject({ dryRun: true, written: null, verified: null });
    expect(result.plan.files).toBe(served.listed.size + 2);
    expect(await readdir(target)).toEqual([]);
  });

  it('splits a bundle into two volumes with --volume-size, each carrying the metadata and verifying on its own with ferry verify', async () => {
    const target = await targetFolder(join(workDir, 'volumes'));
    const run = expectOk(await ferry(['export', '--to', target, '--volume-size', '300K', '--library', library, ...keyring, served.source]));
    const volumes = [join(target, 'volume-1'), join(target, 'volume-2')];
    const dirs = (await Promise.all(volumes.map(bundleDirs))).flat();
    expect(dirs).toHaveLength(2);
    expect(lastLine(run)).toBe(dirs[1]);
    const manifests = await Promise.all(dirs.map(expectCompleteVolume));
    expect(manifests.map((manifest) => manifest.volume)).toEqual([
      { index: 1, count: 2 },
      { index: 2, count: 2 },
    ]);
    expect(manifests[0]?.id).toBe(manifests[1]?.id);
    // Every metadata blob on both volumes (docs/bundle.md), each item blob on exactly one, and together every file's blob.
    const metadata = [...new Set(manifests[0]?.files.filter((file) => file.role === 'metadata').map((file) => file.sha256))].sort();
    for (const manifest of manifests) expect(metadata.filter((sha256) => !manifest.blobs.some((blob) => blob.sha256 === sha256))).toEqual([]);
    const items = blobSet(manifests).filter((sha256) => !metadata.includes(sha256));
    expect(new Set(items).size).toBe(items.length);
    expect([...new Set([...items, ...metadata])].sort()).toEqual([...new Set(manifests[0]?.files.map((file) => file.sha256))].sort());
    expect(await exists(join(target, 'FERRY'))).toBe(false);
    // Each volume alone: its signatures verify and its own blobs are valid; only the other volume is missing (exit 1, not 3).
    for (const [index, volume] of volumes.entries()) {
      const alone = await ferry(['verify', '--json', ...keyring, volume]);
      expect(alone.code, describeRun(alone)).toBe(1);
      const outcome = JSON.parse(lastLine(alone)) as { valid: boolean; complete: boolean; signatures: unknown[]; volumes: { given: number[]; missing: number[] }; missing: unknown[] };
      expect(outcome).toMatchObject({ valid: true, complete: false, volumes: { given: [index + 1], missing: [2 - index] } });
      expect(outcome.signatures).toHaveLength(2);
      expect(outcome.missing.length).toBeGreaterThan(0);
    }
    expectOk(await ferry(['verify', ...keyring, volumes[1] ?? '', volumes[0] ?? '']));
  });
});

describe('ferry export from a mirror tree', () => {
  it('equals the export of the same selection from the library (files and blobs)', async () => {
    const tree = join(workDir, 'tree');
    expectOk(await ferry(['mirror', ...keyring, served.source, tree]));
    const fromTree = await targetFolder(join(workDir, 'from-tree'));
    const fromLibrary = await targetFolder(join(workDir, 'from-library'));
    expectOk(await ferry(['export', '--to', fromTree, '--tree', tree, ...keyring, 'arch=amd64']));
    expectOk(await ferry(['export', '--to', fromLibrary, '--library', library, ...keyring, served.source, 'arch=amd64']));
    const [treeManifest, libraryManifest] = await Promise.all([fromTree, fromLibrary].map(async (target) => expectCompleteVolume((await bundleDirs(target))[0] ?? '')));
    if (treeManifest === undefined || libraryManifest === undefined) throw new Error('two bundles');
    expect(fileSet(treeManifest)).toEqual(fileSet(libraryManifest));
    expect(blobSet([treeManifest])).toEqual(blobSet([libraryManifest]));
    expect(treeManifest.selection).toEqual([['arch=amd64']]);
  });

  it('refuses a tree file that differs from its signed metadata, and leaves no bundle', async () => {
    const tree = join(workDir, 'tampered-tree');
    expectOk(await ferry(['mirror', ...keyring, served.source, tree]));
    const [victim] = [...served.listed.values()];
    if (victim === undefined) throw new Error('the stream lists files');
    await tamperFile(tree, victim.path);
    const target = await targetFolder(join(workDir, 'from-tampered'));
    const run = await ferry(['export', '--json', '--to', target, '--tree', tree, ...keyring]);
    expect(run.code, describeRun(run)).toBe(3);
    expect(run.stderr).toContain('FERRY_HASH_MISMATCH');
    expect(run.stderr).toContain(victim.path);
    for (const dir of await bundleDirs(target)) {
      expect(await exists(join(dir, 'bundle.json'))).toBe(false);
      expect((await walkFiles(dir)).filter((file) => file.endsWith(victim.sha256))).toEqual([]);
    }
  });

  it('refuses a FIFO or a link at an item path of the tree (FERRY_PATH_BLOCKED) rather than leaving that file out', async () => {
    const tree = join(workDir, 'blocked-tree');
    expectOk(await ferry(['mirror', ...keyring, served.source, tree]));
    const [fifoVictim, linkVictim] = [...served.listed.values()].filter((file) => !file.path.startsWith('streams/'));
    if (fifoVictim === undefined || linkVictim === undefined) throw new Error('the stream lists two item files');
    await rm(join(tree, fifoVictim.path));
    execFileSync('mkfifo', [join(tree, fifoVictim.path)]);
    const target = await targetFolder(join(workDir, 'from-blocked'));
    const run = await ferry(['export', '--to', target, '--tree', tree, ...keyring]);
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain(fifoVictim.path);
    expect(run.stderr).toContain('not a regular file');
    expect(await bundleDirs(target)).toEqual([]);
    await rm(join(tree, fifoVictim.path));
    await rm(join(tree, linkVictim.path));
    await symlink('/dev/zero', join(tree, linkVictim.path));
    const linked = await ferry(['export', '--to', target, '--tree', tree, ...keyring]);
    expect(linked.code, describeRun(linked)).toBe(1);
    expect(linked.stderr).toContain('a symbolic link');
  });

  it('never writes through a link planted at a partial name', async () => {
    const [linked] = [...served.listed.values()];
    if (linked === undefined) throw new Error('the stream lists files');
    // The kernel copy creates each partial with O_EXCL: a link at that name is removed, not followed.
    const good = join(workDir, 'link-tree');
    expectOk(await ferry(['mirror', ...keyring, served.source, good]));
    const plain = await targetFolder(join(workDir, 'plain-tree'));
    const outside = join(workDir, 'outside.txt');
    await writeFile(outside, 'keep');
    await mkdir(dirname(join(plain, linked.path)), { recursive: true });
    await symlink(outside, join(plain, `${linked.path}.partial`));
    expectOk(await ferry(['export', '--to', plain, '--layout', 'tree', '--tree', good, ...keyring]));
    expect(await readFile(outside, 'utf8')).toBe('keep');
    expect(await readFile(join(plain, linked.path))).toEqual(await readFile(join(good, linked.path)));
  });
});

describe('incremental exports', () => {
  it('--site carries only blobs earlier exports to that site did not, naming its base', async () => {
    const site = await targetFolder(join(workDir, 'site-1'));
    expectOk(await ferry(['export', '--to', site, '--site', 'dc1', '--library', library, ...keyring, served.source]));
    const [first] = await Promise.all((await bundleDirs(site)).map(readManifest));
    if (first === undefined) throw new Error('a first bundle');
    expect(first.base).toBeNull();
    expect(first.site).toBe('dc1');
    // Upstream publishes a third version of each product; the library syncs it.
    await generateStream(served.stream.baseDir, { ...twoProductShape(3), signingKey: served.testKey.key });
    expectOk(await ferry(['sync', '--library', library, ...keyring, served.source]));
    const next = await targetFolder(join(workDir, 'site-2'));
    expectOk(await ferry(['export', '--to', next, '--site', 'dc1', '--library', library, ...keyring, served.source]));
    const [second] = await Promise.all((await bundleDirs(next)).map(expectCompleteVolume));
    if (second === undefined) throw new Error('a second bundle');
    expect(second.base).toEqual({ kind: 'site', id: first.id });
    const before = new Set(first.blobs.map((blob) => blob.sha256));
    const lacking = [...new Set(second.files.map((file) => file.sha256))].filter((sha256) => !before.has(sha256)).sort();
    expect(lacking.length).toBeGreaterThan(0);
    expect(blobSet([second])).toEqual(lacking);
    // A full export stays possible at any time.
    const full = await targetFolder(join(workDir, 'site-full'));
    expectOk(await ferry(['export', '--to', full, '--library', library, ...keyring, served.source]));
    const [whole] = await Promise.all((await bundleDirs(full)).map(readManifest));
    expect(whole?.base).toBeNull();
    expect(blobSet(whole === undefined ? [] : [whole])).toEqual([...new Set(second.files.map((file) => file.sha256))].sort());

    // --since: a receipt from the site makes the bundle carry exactly what the site lacks.
    // The receipt leaves out one blob the new selection still wants (not the old metadata, which
    // the new selection no longer lists: the lowest sha256 may be either).
    const wantedNow = new Set(second.files.map((file) => file.sha256));
    const held = first.blobs.find((blob) => wantedNow.has(blob.sha256));
    const rest = first.blobs.filter((blob) => blob !== held);
    const receipt = {
      format: 'stream-ferry-receipt',
      formatVersion: 1,
      id: '20261130T060000Z-0123abcd',
      created: '2026-11-30T06:00:00.000Z',
      tool: { name: 'stream-ferry', version: '0.1.0' },
      site: 'dc1',
      metadata: [],
      blobs: rest.map((blob) => ({ sha256: blob.sha256, size: blob.size })),
    };
    const receiptFile = join(workDir, 'receipt.json');
    await writeFile(receiptFile, JSON.stringify(receipt));
    const sinceTarget = await targetFolder(join(workDir, 'since'));
    expectOk(await ferry(['export', '--to', sinceTarget, '--since', receiptFile, '--library', library, ...keyring, served.source]));
    const [since] = await Promise.all((await bundleDirs(sinceTarget)).map(expectCompleteVolume));
    expect(since?.base).toEqual({ kind: 'receipt', id: receipt.id });
    const siteHolds = new Set(receipt.blobs.map((blob) => blob.sha256));
    expect(blobSet(since === undefined ? [] : [since])).toEqual([...new Set(second.files.map((file) => file.sha256))].filter((sha256) => !siteHolds.has(sha256)).sort());
    expect(blobSet(since === undefined ? [] : [since])).toContain(held?.sha256);
  });
});

describe('refused before anything is written', () => {
  it('a part size below 4K at parse time (exit 2), a --to folder that does not exist, and --site with --tree', async () => {
    const tiny = await ferry(['export', '--to', await targetFolder(join(workDir, 'tiny-parts')), '--part-size', '1', '--library', library, ...keyring, served.source]);
    expect(tiny.code, describeRun(tiny)).toBe(2);
    expect(tiny.stderr).toContain('--part-size must be at least 4K');
    expect(await readdir(join(workDir, 'tiny-parts'))).toEqual([]);

    const typo = join(workDir, 'media', 'usbb');
    const missing = await ferry(['export', '--to', typo, '--library', library, ...keyring, served.source]);
    expect(missing.code, describeRun(missing)).toBe(1);
    expect(missing.stderr).toContain('FERRY_TARGET_MISSING');
    expect(missing.stderr).toContain('ferry drives');
    expect(await exists(join(workDir, 'media'))).toBe(false);

    const siteFromTree = await ferry(['export', '--to', await targetFolder(join(workDir, 'site-tree')), '--tree', served.stream.baseDir, '--site', 'dc1', ...keyring]);
    expect(siteFromTree.code, describeRun(siteFromTree)).toBe(2);
    expect(siteFromTree.stderr).toContain('--since RECEIPT');
    expect(siteFromTree.stderr).not.toContain('FERRY_INPUT_INVALID');

    // A FIFO given as the receipt is refused at once (it used to wait for a writer for ever).
    const fifo = join(workDir, 'receipt.fifo');
    execFileSync('mkfifo', [fifo]);
    const fifoTarget = await targetFolder(join(workDir, 'since-fifo'));
    const sinceFifo = await runFerry(['export', '--to', fifoTarget, '--since', fifo, '--library', library, ...keyring, served.source], { timeoutMs: 20_000 });
    expect(sinceFifo.code, describeRun(sinceFifo)).toBe(1);
    expect(sinceFifo.stderr).toContain('FERRY_RECEIPT_INVALID');
    expect(sinceFifo.stderr).toContain('not a regular file');
    expect(await readdir(fifoTarget)).toEqual([]);
  });
});

describe('a second identical export', () => {
  it('finds the finished bundle of the same plan and verifies it again instead of writing another', async () => {
    const target = await targetFolder(join(workDir, 'twice'));
    const args = ['export', '--to', target, '--library', library, ...keyring, served.source, 'arch=amd64'];
    const first = expectOk(await ferry(args));
    const again = expectOk(await ferry(args));
    expect(await bundleDirs(target)).toEqual([lastLine(first)]);
    expect(lastLine(again)).toBe(lastLine(first));
    expect(again.stderr).toContain('is already here');
    expect(again.stderr).toMatch(/Verified: \d+ file\(s\)/);
    // Another selection is another plan: a bundle of its own beside the first.
    const other = expectOk(await ferry([...args, '--max', '1']));
    expect(await bundleDirs(target)).toHaveLength(2);
    expect(other.stderr).not.toContain('is already here');
  });
});

describe('a tree mirrored with filters', () => {
  it('exports without filters the items present, saying how many are not; with filters a missing file is refused before anything is written', async () => {
    const tree = join(workDir, 'noble-tree');
    expectOk(await ferry(['mirror', ...keyring, served.source, tree, 'release=noble']));
    const target = await targetFolder(join(workDir, 'from-noble-tree'));
    const run = expectOk(await ferry(['export', '--to', target, '--tree', tree, ...keyring]));
    expect(run.stderr).toMatch(/Note: \d+ item file\(s\) the tree's metadata lists are not in .*release=noble/);
    const manifest = await expectCompleteVolume(lastLine(run));
    const items = manifest.files.filter((file) => file.role === 'item');
    expect(items.length).toBeGreaterThan(0);
    for (const file of items) expect(await exists(join(tree, file.path)), file.path).toBe(true);
    expect(items.every((file) => file.path.startsWith('noble/'))).toBe(true);

    const filteredTarget = await targetFolder(join(workDir, 'from-noble-tree-filtered'));
    const refused = await ferry(['export', '--to', filteredTarget, '--tree', tree, ...keyring, 'arch=amd64']);
    expect(refused.code, describeRun(refused)).toBe(1);
    expect(refused.stderr).toContain('FERRY_EXPORT_UNAVAILABLE');
    expect(refused.stderr).toMatch(/lacks \d+ file\(s\) the selection wants: \S*jammy/);
    expect(refused.stderr).toContain('release=noble');
    expect(refused.stderr).not.toContain('ENOENT');
    expect(await readdir(filteredTarget)).toEqual([]);
  });
});

describe('export --profile', () => {
  it('verifies with the keyring the saved selection remembers, as sync --profile does, and carries it', async () => {
    expectOk(await ferry(['sync', '--library', library, ...keyring, '--profile', 'lab', served.source, 'release=noble']));
    const target = await targetFolder(join(workDir, 'profile'));
    const run = expectOk(await ferry(['export', '--to', target, '--library', library, '--profile', 'lab']));
    const manifest = await expectCompleteVolume(lastLine(run));
    expect(manifest.keyrings).toHaveLength(1);
    expect(await readFile(join(lastLine(run), manifest.keyrings[0]?.file ?? ''))).toEqual(await readFile(served.testKey.keyringFile));
    expect(manifest.files.filter((file) => file.role === 'item').every((file) => file.path.includes('noble'))).toBe(true);
  });
});
