import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { IMPORT_SCRIPT_EXIT, importScriptText } from '../../../src-main/media/bundle/import-script.js';
import {
  BUNDLE_FILES,
  BUNDLES_FOLDER,
  PARTIAL_SUFFIX,
  blobStoragePaths,
  type BundleBlob,
  type BundleManifest,
} from '../../../src-main/media/index.js';
import { MANIFEST_HEADER, writeManifest } from '../../support/bundle-builder.js';
import { fillUntilFree, mountSmallExt4, requireMount, unmount } from '../../support/loop-disk.js';

// import.sh (src-main/media/bundle/import-script.ts) run for real under dash and busybox sh on
// bundles written here with the manifest's helpers: one blob in parts, paths with ':' and spaces,
// two volumes imported in reverse order, an incremental bundle, a tampered blob, kill -9 midway,
// and a PATH holding nothing but busybox's applets for the tools the script may use.

interface TreeFile {
  path: string;
  bytes: Buffer;
  role: 'item' | 'metadata';
}

interface BundleSpec {
  files: TreeFile[];
  /** Which volume (1-based) carries a file's blob; null: not in this bundle (the site holds it). Default 1. */
  volumeOf?: (file: TreeFile) => number | null;
  volumes?: number;
  /** Blobs larger than this are written as parts. */
  partSize?: number;
  base?: BundleManifest['base'];
  id?: string;
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Bytes that differ from file to file, `size` long. */
function payload(seed: string, size: number): Buffer {
  const bytes = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let offset = 0; offset < size; offset += block.length) {
    block.copy(bytes, offset);
    block = createHash('sha256').update(block).digest();
  }
  return bytes;
}

function blobOf(bytes: Buffer, partSize: number | undefined): BundleBlob {
  const digest = sha256(bytes);
  if (partSize === undefined || bytes.length <= partSize) return { sha256: digest, size: bytes.length };
  const parts = [];
  for (let offset = 0; offset < bytes.length; offset += partSize) {
    const part = bytes.subarray(offset, offset + partSize);
    parts.push({ size: part.length, sha256: sha256(part) });
  }
  return { sha256: digest, size: bytes.length, parts };
}

/** Writes every volume of a bundle as `<root>/vol<n>/FERRY/<id>/`; returns the volumes' directories. */
async function writeBundle(root: string, spec: BundleSpec): Promise<string[]> {
  const count = spec.volumes ?? 1;
  const id = spec.id ?? '20261130T054000Z-3fa9c2d1';
  const contents = new Map(spec.files.map((file) => [sha256(file.bytes), file.bytes]));
  const volumeOfBlob = new Map(spec.files.map((file) => [sha256(file.bytes), spec.volumeOf === undefined ? 1 : spec.volumeOf(file)]));
  const directories: string[] = [];
  for (let index = 1; index <= count; index += 1) {
    const directory = join(root, `vol${index}`, BUNDLES_FOLDER, id);
    const blobs = [...contents].filter(([digest]) => volumeOfBlob.get(digest) === index).map(([, bytes]) => blobOf(bytes, spec.partSize));
    const stored = blobs.flatMap((entry) => {
      const bytes = contents.get(entry.sha256) ?? Buffer.alloc(0);
      let offset = 0;
      return blobStoragePaths(entry).map((file) => {
        const slice = bytes.subarray(offset, offset + file.size);
        offset += file.size;
        return { ...file, bytes: slice };
      });
    });
    for (const file of stored) {
      await mkdir(dirname(join(directory, file.path)), { recursive: true });
      await writeFile(join(directory, file.path), file.bytes);
    }
    const manifest: BundleManifest = {
      ...MANIFEST_HEADER,
      id,
      selection: [],
      max: null,
      site: spec.base === undefined || spec.base === null ? null : 'dc1',
      base: spec.base ?? null,
      volume: { index, count },
      files: spec.files.map((file) => ({ path: file.path, size: file.bytes.length, sha256: sha256(file.bytes), role: file.role })),
      blobs,
      volumes: [],
      signature: null,
    };
    await writeFile(join(directory, BUNDLE_FILES.importScript), importScriptText(manifest));
    await writeManifest(directory, manifest);
    directories.push(directory);
  }
  return directories;
}

interface Shell {
  name: string;
  command: string;
  args: string[];
}

const SHELLS: Shell[] = [
  { name: 'dash', command: '/usr/bin/dash', args: [] },
  { name: 'busybox sh', command: '/usr/bin/busybox', args: ['sh'] },
];

function requireShell(shell: Shell, context: TestContext): void {
  const probe = spawnSync(shell.command, [...shell.args, '-c', 'exit 0']);
  if (probe.status !== 0) context.skip(`${shell.name} is not installed here (${shell.command}); install it with apt-get install dash busybox`);
}

interface ScriptRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `<shell> <bundle>/import.sh TARGET`, run from `cwd` (the work dir: "from anywhere"). */
function runImport(shell: Shell, bundle: string, target: string, env: NodeJS.ProcessEnv = process.env): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(shell.command, [...shell.args, relative(workDir, join(bundle, BUNDLE_FILES.importScript)), target], { cwd: workDir, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => { resolve({ status, stdout, stderr }); });
  });
}

/** Every file under `root`, relative path → bytes (folders only through their files). */
async function readTree(root: string): Promise<Map<string, Buffer>> {
  const tree = new Map<string, Buffer>();
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await walk(path);
      else tree.set(relative(root, path), await readFile(path));
    }
  };
  await walk(root).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  });
  return tree;
}

function treeOf(files: readonly TreeFile[]): Map<string, Buffer> {
  return new Map(files.map((file) => [file.path, file.bytes]));
}

const ITEMS: TreeFile[] = [
  { path: 'server/releases/jammy/amd64/20261120/squashfs', bytes: payload('squashfs', 10_000), role: 'item' },
  { path: 'server/releases/jammy/amd64/20261120/ga-22.04/generic/boot-kernel', bytes: payload('kernel', 300), role: 'item' },
  { path: 'server/releases/jammy/amd64/20261120/ga-22.04/generic/boot-initrd', bytes: payload('initrd', 500), role: 'item' },
  // MAAS content ids have ':'; a folder with spaces proves the quoting.
  { path: 'com.ubuntu.maas:stable:v3/a folder with spaces/file: one', bytes: payload('colon', 64), role: 'item' },
  // The same bytes at a second path: one blob serves both.
  { path: 'server/releases/jammy/amd64/20261120/ga-22.04/hwe/boot-kernel', bytes: payload('kernel', 300), role: 'item' },
  { path: 'server/empty', bytes: Buffer.alloc(0), role: 'item' },
];

const METADATA: TreeFile[] = [
  { path: 'streams/v1/index.sjson', bytes: Buffer.from('index: products file below\n'), role: 'metadata' },
  { path: 'streams/v1/com.ubuntu.maas:stable:v3:download.sjson', bytes: Buffer.from('products of com.ubuntu.maas:stable:v3:download\n'), role: 'metadata' },
];

const FULL = [...ITEMS, ...METADATA];

let workDir: string;
let caseNumber = 0;

/** A fresh folder for one test (bundle and target), under the work dir. */
async function caseDir(): Promise<string> {
  caseNumber += 1;
  const dir = join(workDir, `case${caseNumber}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-import-sh-'));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe.each(SHELLS)('import.sh under $name', (shell) => {
  it('builds the tree bundle.json lists, byte for byte, joining parts; a rerun keeps it as it is', async (context) => {
    requireShell(shell, context);
    const dir = await caseDir();
    const [bundle = ''] = await writeBundle(dir, { files: FULL, partSize: 4096 });
    const target = join(dir, 'mirror');
    const first = await runImport(shell, bundle, target);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(IMPORT_SCRIPT_EXIT.complete);
    expect(await readTree(target)).toEqual(treeOf(FULL));
    // Metadata is written last, products file before the index.
    const written = first.stdout.split('\n').filter((line) => line.startsWith('written '));
    expect(written.slice(-2)).toEqual(['written streams/v1/com.ubuntu.maas:stable:v3:download.sjson', 'written streams/v1/index.sjson']);

    const again = await runImport(shell, bundle, target);
    expect(again.status).toBe(IMPORT_SCRIPT_EXIT.complete);
    expect(again.stdout).not.toContain('written ');
    expect(await readTree(target)).toEqual(treeOf(FULL));
  });

  it('refuses a tampered blob, naming it and its path, and writes nothing from it', async (context) => {
    requireShell(shell, context);
    const dir = await caseDir();
    const [bundle = ''] = await writeBundle(dir, { files: FULL, partSize: 4096 });
    const squashfs = ITEMS[0];
    if (squashfs === undefined) throw new Error('no squashfs item');
    const digest = sha256(squashfs.bytes);
    const part = join(bundle, BUNDLE_FILES.blobs, digest.slice(0, 2), `${digest}.part-2`);
    const bytes = await readFile(part);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(part, bytes);

    const target = join(dir, 'mirror');
    const run = await runImport(shell, bundle, target);
    expect(run.status).toBe(IMPORT_SCRIPT_EXIT.badBlob);
    expect(run.stderr).toContain(`blob ${digest} for ${squashfs.path} is damaged`);
    const tree = await readTree(target);
    expect(tree.has(squashfs.path)).toBe(false);
    expect([...tree.keys()].filter((path) => path.endsWith(PARTIAL_SUFFIX) || path.startsWith('streams/'))).toEqual([]);
  });

  it('prints its usage for -h and --help, and refuses a TARGET that starts with - or lies inside the bundle, writing nothing', async (context) => {
    requireShell(shell, context);
    const dir = await caseDir();
    const [bundle = ''] = await writeBundle(dir, { files: FULL });
    for (const option of ['-h', '--help']) {
      const help = await runImport(shell, bundle, option);
      expect(help.status, help.stderr).toBe(IMPORT_SCRIPT_EXIT.complete);
      expect(help.stdout).toContain('sh import.sh TARGET_DIR');
      expect(help.stdout).toMatch(/does NOT check signatures/);
      expect(help.stdout).not.toContain('FERRY_TABLE_END');
    }
    const before = (await readdir(bundle)).sort();
    const dashed = await runImport(shell, bundle, '-x');
    expect(dashed.status).toBe(IMPORT_SCRIPT_EXIT.usage);
    expect(dashed.stderr).toContain("starts with '-'");
    for (const inside of [join(bundle, 'mirror'), relative(workDir, join(bundle, 'a', 'b'))]) {
      const run = await runImport(shell, bundle, inside);
      expect(run.status, run.stderr).toBe(IMPORT_SCRIPT_EXIT.usage);
      expect(run.stderr).toContain('inside this bundle');
    }
    expect((await readdir(bundle)).sort()).toEqual(before);
  });

  it('exits 4 naming a blob missing from the bundle, and writes nothing from it', async (context) => {
    requireShell(shell, context);
    const dir = await caseDir();
    const [bundle = ''] = await writeBundle(dir, { files: FULL });
    const squashfs = ITEMS[0];
    if (squashfs === undefined) throw new Error('no squashfs item');
    const digest = sha256(squashfs.bytes);
    await rm(join(bundle, BUNDLE_FILES.blobs, digest.slice(0, 2), digest));
    const target = join(dir, 'mirror');
    const run = await runImport(shell, bundle, target);
    expect(run.status).toBe(IMPORT_SCRIPT_EXIT.incomplete);
    expect(run.stderr).toContain(`blob ${digest} for ${squashfs.path}`);
    expect(run.stderr).toContain('missing from this bundle');
    expect((await readTree(target)).has(squashfs.path)).toBe(false);
  });

  it('exits 1 naming the target disk when a write fails (disk full), not 3 (a damaged blob)', async (context) => {
    requireShell(shell, context);
    const dir = await caseDir();
    const [bundle = ''] = await writeBundle(dir, { files: FULL });
    const disk = await mountSmallExt4(dir, 'small-disk', 8);
    try {
      const target = requireMount(disk, context);
      const squashfs = ITEMS[0];
      if (squashfs === undefined) throw new Error('no squashfs item');
      // The folders first, so that the first thing to fail is the write of the file itself.
      await mkdir(dirname(join(target, squashfs.path)), { recursive: true });
      await fillUntilFree(target, join(target, 'ballast'), 1024);
      const run = await runImport(shell, bundle, target);
      expect(run.status, run.stderr).toBe(IMPORT_SCRIPT_EXIT.failed);
      expect(run.stderr).toContain(`the disk mounted at ${target}`);
      expect(run.stderr).toContain('full');
      expect(run.stderr).not.toContain('cannot read');
      expect((await readTree(target)).has(squashfs.path)).toBe(false);
    } finally {
      await unmount(disk);
    }
  });

  it('checks every metadata blob before writing any metadata', async (context) => {
    requireShell(shell, context);
    const dir = await caseDir();
    const [bundle = ''] = await writeBundle(dir, { files: FULL });
    const products = METADATA[1];
    if (products === undefined) throw new Error('no products file');
    const digest = sha256(products.bytes);
    await writeFile(join(bundle, BUNDLE_FILES.blobs, digest.slice(0, 2), digest), 'forged products\n');
    const target = join(dir, 'mirror');
    const run = await runImport(shell, bundle, target);
    expect(run.status).toBe(IMPORT_SCRIPT_EXIT.badBlob);
    expect(run.stderr).toContain(`blob ${digest} for ${products.path} is damaged; no metadata was written`);
    expect(await readTree(target)).toEqual(treeOf(ITEMS));
  });

  it('takes two volumes in reverse order: the first run names what is missing, the second writes the metadata', async (context) => {
    requireShell(shell, context);
    const dir = await caseDir();
    const volumeTwo = new Set([ITEMS[0]?.path, ITEMS[3]?.path]);
    const [one = '', two = ''] = await writeBundle(dir, { files: FULL, volumes: 2, partSize: 4096, volumeOf: (file) => (volumeTwo.has(file.path) ? 2 : 1) });
    const target = join(dir, 'mirror');

    const first = await runImport(shell, two, target);
    expect(first.status).toBe(IMPORT_SCRIPT_EXIT.incomplete);
    expect(first.stdout).toContain('volume 2 of 2');
    expect(first.stdout).toContain(`  ${ITEMS[1]?.path} (blob `);
    expect(first.stdout).toContain('  streams/v1/index.sjson (blob ');
    expect(await readTree(target)).toEqual(treeOf(FULL.filter((file) => volumeTwo.has(file.path))));

    const second = await runImport(shell, one, target);
    expect(second.stderr).toBe('');
    expect(second.status).toBe(IMPORT_SCRIPT_EXIT.complete);
    expect(await readTree(target)).toEqual(treeOf(FULL));
  });

  it('imports an incremental bundle on top of the earlier import, taking the blobs it lacks from the tree', async (context) => {
    requireShell(shell, context);
    const dir = await caseDir();
    const [full = ''] = await writeBundle(join(dir, 'full'), { files: FULL });
    const target = join(dir, 'mirror');
    expect((await runImport(shell, full, target)).status).toBe(IMPORT_SCRIPT_EXIT.complete);

    // The next upstream version: a new squashfs, the same kernel at a new path (and the old
    // version dropped from the tree: the bytes are found at a path bundle.json no longer lists).
    const next: TreeFile[] = [
      { path: 'server/releases/jammy/amd64/20261127/squashfs', bytes: payload('squashfs 2', 5000), role: 'item' },
      { path: 'server/releases/jammy/amd64/20261127/ga-22.04/generic/boot-kernel', bytes: payload('kernel', 300), role: 'item' },
      { path: 'com.ubuntu.maas:stable:v3/a folder with spaces/file: one', bytes: payload('colon', 64), role: 'item' },
      { path: 'streams/v1/index.sjson', bytes: Buffer.from('index: next\n'), role: 'metadata' },
      { path: 'streams/v1/com.ubuntu.maas:stable:v3:download.sjson', bytes: Buffer.from('products: next\n'), role: 'metadata' },
    ];
    const siteHolds = new Set(FULL.map((file) => sha256(file.bytes)));
    const base = { kind: 'site' as const, id: '20261130T054000Z-3fa9c2d1' };
    const [increment = ''] = await writeBundle(join(dir, 'next'), {
      files: next,
      base,
      id: '20261201T054000Z-00c0ffee',
      volumeOf: (file) => (siteHolds.has(sha256(file.bytes)) ? null : 1),
    });
    const run = await runImport(shell, increment, target);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(IMPORT_SCRIPT_EXIT.complete);
    // Either earlier path holding the kernel's bytes will do.
    expect(run.stdout).toMatch(new RegExp(`written ${next[1]?.path} \\(from server/releases/jammy/amd64/20261120/ga-22\\.04/(generic|hwe)/boot-kernel\\)`));
    const tree = await readTree(target);
    for (const file of next) expect(tree.get(file.path), file.path).toEqual(file.bytes);

    // A blob the site was expected to hold but does not: stopped, naming it and the base.
    const lost: TreeFile = { path: 'server/lost', bytes: payload('never exported', 77), role: 'item' };
    const [broken = ''] = await writeBundle(join(dir, 'broken'), {
      files: [...next, lost],
      base,
      id: '20261202T054000Z-00c0ffee',
      volumeOf: (file) => (file === lost || siteHolds.has(sha256(file.bytes)) ? null : 1),
    });
    const refused = await runImport(shell, broken, target);
    expect(refused.status).toBe(IMPORT_SCRIPT_EXIT.incomplete);
    expect(refused.stderr).toContain(`blob ${sha256(lost.bytes)} for server/lost is not in this bundle`);
    expect(refused.stderr).toContain(`bundle ${base.id}, the last exported to site dc1`);
  });

  it('completes on a rerun after kill -9 of its process group midway, with nothing partial at a final path', async (context) => {
    requireShell(shell, context);
    const dir = await caseDir();
    const many: TreeFile[] = Array.from({ length: 12 }, (_, index) => ({ path: `server/v/file ${index}`, bytes: payload(`many ${index}`, 20_000), role: 'item' as const }));
    const files = [...many, ...METADATA];
    const [bundle = ''] = await writeBundle(dir, { files, partSize: 8192 });
    const target = join(dir, 'mirror');
    // A slow mv (the rename into place) so that the kill lands between files, deterministically.
    const slow = join(dir, 'slow-bin');
    await mkdir(slow);
    await writeFile(join(slow, 'mv'), '#!/bin/sh\nsleep 0.2\nexec /bin/mv "$@"\n');
    await chmod(join(slow, 'mv'), 0o755);

    const killedAfter = await new Promise<number>((resolve, reject) => {
      const child = spawn(shell.command, [...shell.args, join(bundle, BUNDLE_FILES.importScript), target], {
        cwd: workDir,
        env: { ...process.env, PATH: `${slow}:${process.env['PATH'] ?? ''}` },
        detached: true,
      });
      let written = 0;
      child.stdout.on('data', (chunk: Buffer) => {
        written += chunk.toString().split('\n').filter((line) => line.startsWith('written ')).length;
        if (written >= 3 && child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
      });
      child.on('error', reject);
      child.on('close', (_status, signal) => {
        if (signal === 'SIGKILL') resolve(written);
        else reject(new Error(`the script ended on its own (signal ${String(signal)}) before it was killed`));
      });
    });
    expect(killedAfter).toBeLessThan(many.length);
    const interrupted = await readTree(target);
    expect(interrupted.has('streams/v1/index.sjson')).toBe(false);
    const wanted = treeOf(files);
    for (const [path, bytes] of interrupted) {
      if (path.endsWith(PARTIAL_SUFFIX)) continue;
      expect(bytes, path).toEqual(wanted.get(path));
    }

    const rerun = await runImport(shell, bundle, target);
    expect(rerun.status).toBe(IMPORT_SCRIPT_EXIT.complete);
    expect(await readTree(target)).toEqual(wanted);
  });

  it('needs nothing but POSIX sh and coreutils: PATH holds only busybox applets for those tools', async (context) => {
    requireShell(shell, context);
    const dir = await caseDir();
    const tools = join(dir, 'tools');
    await mkdir(tools);
    for (const tool of ['cat', 'cp', 'mv', 'mkdir', 'rm', 'sync', 'sha256sum', 'find']) await symlink('/usr/bin/busybox', join(tools, tool));
    const [full = ''] = await writeBundle(join(dir, 'full'), { files: FULL, partSize: 4096 });
    const target = join(dir, 'mirror');
    const run = await runImport(shell, full, target, { PATH: tools });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(IMPORT_SCRIPT_EXIT.complete);
    expect(await readTree(target)).toEqual(treeOf(FULL));

    // find too, where an incremental bundle's blob is taken from the tree.
    const moved: TreeFile[] = [...FULL, { path: 'server/moved/boot-kernel', bytes: payload('kernel', 300), role: 'item' }];
    const [increment = ''] = await writeBundle(join(dir, 'next'), {
      files: moved,
      base: { kind: 'site', id: '20261130T054000Z-3fa9c2d1' },
      volumeOf: (file) => (file.role === 'metadata' ? 1 : null),
    });
    const next = await runImport(shell, increment, target, { PATH: tools });
    expect(next.stderr).toBe('');
    expect(next.status).toBe(IMPORT_SCRIPT_EXIT.complete);
    expect(await readTree(target)).toEqual(treeOf(moved));
  });
});
