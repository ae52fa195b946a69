import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillUntilFree, mountSmallExt4, requireMount, unmount } from '../../support/loop-disk.js';
import { lockLibrary } from '../../../src-main/library/index.js';
import { blobFilePath } from '../../../src-main/media/bundle/manifest.js';
import { buildBundle, readManifest, writeManifest, type BuiltBundle } from '../../support/bundle-builder.js';
import { runFerry } from '../../support/run-ferry.js';
import { describeRun, KIB, makeWorkDir, removeQuietly, serveSignedStream, walkFiles, type ServedStream } from '../mirror/helpers.js';
import { expectSameTree, offlineShape, snapshotTree } from './offline-helpers.js';

// What an adversarial tester broke on the offline side (issue 9 follow-up): an older bundle
// rolling a newer tree back, volumes imported before the last one arrives, a FIFO in place of a
// blob, a blob changed together with its SHA256SUMS line, and the words of a bad signature.

const shape = { ...offlineShape, versions: 1 };

let workDir: string;
let older: ServedStream;
let newer: ServedStream;
let treeOld: string;
let treeNew: string;
let bundle: BuiltBundle;
let keyring: string[];

beforeAll(async () => {
  workDir = await makeWorkDir('bundle-import-safety');
  await mkdir(join(workDir, 'old'));
  await mkdir(join(workDir, 'new'));
  older = await serveSignedStream(join(workDir, 'old'), 'Older', { ...shape, updated: new Date('2026-11-01T08:00:00Z') });
  newer = await serveSignedStream(join(workDir, 'new'), 'Newer', { ...shape, versions: 2, updated: new Date('2026-11-20T08:00:00Z') });
  keyring = ['--keyring', older.testKey.keyringFile];
  treeOld = join(workDir, 'tree-old');
  treeNew = join(workDir, 'tree-new');
  for (const [up, tree] of [[older, treeOld], [newer, treeNew]] as const) {
    const run = await runFerry(['mirror', '--keyring', up.testKey.keyringFile, up.source, tree]);
    expect(run.code, describeRun(run)).toBe(0);
  }
  bundle = await buildBundle({ tree: treeOld, folders: [join(workDir, 'usb')], keyringFile: older.testKey.keyringFile });
}, 120_000);

afterAll(async () => {
  await older.server.close();
  await newer.server.close();
  await removeQuietly(workDir);
});

async function copyOfBundle(name: string): Promise<{ folder: string; dir: string }> {
  const folder = join(workDir, name);
  await cp(bundle.folders[0] ?? '', folder, { recursive: true });
  return { folder, dir: join(folder, 'FERRY', bundle.id) };
}

function largestItem(): { sha256: string; path: string } {
  const [file] = bundle.files.filter((entry) => entry.role === 'item').sort((a, b) => b.size - a.size);
  if (file === undefined) throw new Error('no item');
  return file;
}

describe('ferry import of an older bundle', () => {
  it('refuses to roll newer published metadata back (FERRY_BUNDLE_OLDER), prunes nothing, and imports only with --allow-older', async () => {
    const target = join(workDir, 'newer-target');
    await cp(treeNew, target, { recursive: true });
    const before = await snapshotTree(target);
    const refused = await runFerry(['import', ...keyring, bundle.folders[0] ?? '', '--into', target, '--prune']);
    expect(refused.code, describeRun(refused)).toBe(1);
    expect(refused.stderr).toContain('FERRY_BUNDLE_OLDER');
    expect(refused.stderr).toMatch(/20 Nov 2026/);
    expect(refused.stderr).toMatch(/01 Nov 2026/);
    expect(refused.stderr).toContain('--allow-older');
    expect(await snapshotTree(target)).toEqual(before);

    const allowed = await runFerry(['import', ...keyring, bundle.folders[0] ?? '', '--into', target, '--allow-older']);
    expect(allowed.code, describeRun(allowed)).toBe(0);
    expect(await readFile(join(target, 'streams/v1/index.sjson'))).toEqual(await readFile(join(treeOld, 'streams/v1/index.sjson')));
  });
});

describe('ferry import of some volumes', () => {
  it('writes the data of the volumes given, names the missing one, exits 4 without metadata; the last volume completes the tree', async () => {
    const four = await buildBundle({ tree: treeOld, folders: [1, 2, 3, 4].map((n) => join(workDir, `vol${n}`)), keyringFile: older.testKey.keyringFile, id: '20261130T054000Z-0000cccc' });
    const [vol1 = '', vol2 = '', vol3 = '', vol4 = ''] = four.folders;
    const target = join(workDir, 'volumes-target');
    const first = await runFerry(['import', ...keyring, vol3, vol1, vol2, '--into', target]);
    expect(first.code, describeRun(first)).toBe(4);
    expect(first.stdout).toContain('Missing volume(s): 4 of 4');
    const written = await walkFiles(target);
    expect(written.filter((path) => !path.startsWith('streams/')).length).toBeGreaterThan(0);
    expect(written.some((path) => path.startsWith('streams/') || path.endsWith('.partial'))).toBe(false);

    const alone = join(workDir, 'volume-alone');
    const lone = await runFerry(['import', ...keyring, vol4, '--into', alone]);
    expect(lone.code, describeRun(lone)).toBe(4);
    expect((await walkFiles(alone)).length).toBeGreaterThan(0);

    const rest = await runFerry(['import', ...keyring, vol4, '--into', target]);
    expect(rest.code, describeRun(rest)).toBe(0);
    await expectSameTree(target, treeOld);
  });
});

describe('blobs that are not regular files', () => {
  it('a FIFO in place of a blob is a bad blob (exit 3), not a hang', async () => {
    const { folder, dir } = await copyOfBundle('fifo');
    const victim = largestItem();
    const blobPath = join(dir, blobFilePath(victim.sha256));
    await rm(blobPath);
    execFileSync('mkfifo', [blobPath]);
    const verified = await runFerry(['verify', ...keyring, folder], { timeoutMs: 30_000 });
    expect(verified.code, describeRun(verified)).toBe(3);
    expect(verified.stdout).toContain(`BAD blob ${victim.sha256}`);
    expect(verified.stdout).toContain('a FIFO');
    expect(verified.stdout).not.toMatch(/on volume 1[^\n]*on volume 1/);
    const target = join(workDir, 'fifo-target');
    const imported = await runFerry(['import', ...keyring, folder, '--into', target], { timeoutMs: 30_000 });
    expect(imported.code, describeRun(imported)).toBe(3);
    expect(imported.stderr).toContain(victim.path);
    expect((await walkFiles(target)).filter((path) => !path.startsWith('.'))).toEqual([]);
  });

  it.for(['bundle.json', 'SHA256SUMS', 'keyring'] as const)('a FIFO planted at the bundle\'s %s is refused at once, not a hang', async (which) => {
    const { dir } = await copyOfBundle(`fifo-${which}`);
    const manifest = await readManifest(dir);
    const name = which === 'keyring' ? (manifest.keyrings[0]?.file ?? '') : which;
    await rm(join(dir, name));
    execFileSync('mkfifo', [join(dir, name)]);
    // The bundle's own keyring is read only when it is asked for.
    const started = Date.now();
    const verified = await runFerry(['verify', ...(which === 'keyring' ? ['--trust-bundle-keyrings'] : keyring), dir], { timeoutMs: 30_000 });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(verified.code, describeRun(verified)).toBe(1);
    if (which === 'bundle.json') expect(verified.stderr).toContain('FERRY_BUNDLE_NOT_FOUND');
    else {
      expect(verified.stderr).toContain('(FERRY_BUNDLE_INVALID)');
      expect(verified.stderr).toMatch(which === 'SHA256SUMS' ? /SHA256SUMS: is not a regular file but a FIFO/ : /The keyring keyrings\/[^ ]+ of the bundle is not the one bundle.json lists/);
    }
  });

  it('waits for no one: a tree another import (or a ferry mirror) holds is refused at once, nothing written; the lock leaves no folder behind', async () => {
    const target = join(workDir, 'busy-target');
    await mkdir(target, { recursive: true });
    // What a second `ferry import` into the same tree would meet while the first runs.
    const held = await lockLibrary(join(target, '.ferry'), 'import');
    try {
      const refused = await runFerry(['import', ...keyring, bundle.folders[0] ?? '', '--into', target]);
      expect(refused.code, describeRun(refused)).toBe(1);
      expect(refused.stderr).toContain('is in use by a Stream Ferry import job');
      expect(await readdir(target)).toEqual(['.ferry']);
    } finally {
      await held.release();
    }
    // The folder the test's lock made goes; the import's own lock folder must go too.
    await rm(join(target, '.ferry'), { recursive: true });
    const imported = await runFerry(['import', ...keyring, bundle.folders[0] ?? '', '--into', target]);
    expect(imported.code, describeRun(imported)).toBe(0);
    expect(await readdir(target)).not.toContain('.ferry');
  });

  it('a directory in place of a blob is a bad blob (exit 3)', async () => {
    const { folder, dir } = await copyOfBundle('directory');
    const victim = largestItem();
    const blobPath = join(dir, blobFilePath(victim.sha256));
    await rm(blobPath);
    await mkdir(blobPath);
    const verified = await runFerry(['verify', ...keyring, folder]);
    expect(verified.code, describeRun(verified)).toBe(3);
    expect(verified.stdout).toContain('a directory');
  });
});

describe('a blob changed together with its SHA256SUMS line', () => {
  it('is FERRY_HASH_MISMATCH (exit 3) naming the blob and the tree file: bundle.json is what counts', async () => {
    const { folder, dir } = await copyOfBundle('sums-changed');
    const victim = largestItem();
    const blobPath = join(dir, blobFilePath(victim.sha256));
    const bytes = await readFile(blobPath);
    bytes[10] = (bytes[10] ?? 0) ^ 0xff;
    await writeFile(blobPath, bytes);
    const digest = createHash('sha256').update(bytes).digest('hex');
    const sums = join(dir, 'SHA256SUMS');
    await writeFile(sums, (await readFile(sums, 'utf8')).replace(`${victim.sha256}  `, `${digest}  `));
    const verified = await runFerry(['verify', ...keyring, folder]);
    expect(verified.code, describeRun(verified)).toBe(3);
    expect(verified.stdout).toContain('FERRY_HASH_MISMATCH');
    expect(verified.stdout).toContain(victim.path);
    const imported = await runFerry(['import', ...keyring, folder, '--into', join(workDir, 'sums-target')]);
    expect(imported.code, describeRun(imported)).toBe(3);
    expect(imported.stderr).toContain('FERRY_HASH_MISMATCH');
    expect(imported.stderr).toContain(victim.path);
  });
});

describe('a bad signature in a bundle', () => {
  it('names the blob file and the tree path, not a file URL inside the bundle, and says to copy the bundle again', async () => {
    const { folder, dir } = await copyOfBundle('bad-signature');
    const index = bundle.files.find((file) => file.path === 'streams/v1/index.sjson');
    const blobPath = join(dir, blobFilePath(index?.sha256 ?? ''));
    const tampered = Buffer.from((await readFile(blobPath, 'utf8')).replace('"format"', '"format" '));
    const digest = createHash('sha256').update(tampered).digest('hex');
    await mkdir(join(dir, blobFilePath(digest), '..'), { recursive: true });
    await writeFile(join(dir, blobFilePath(digest)), tampered);
    await rm(blobPath);
    const manifest = await readManifest(dir);
    for (const entry of [...manifest.files, ...manifest.blobs]) {
      if (entry.sha256 === index?.sha256) Object.assign(entry, { sha256: digest, size: tampered.length });
    }
    await writeManifest(dir, manifest);
    const run = await runFerry(['verify', ...keyring, folder]);
    expect(run.code, describeRun(run)).toBe(3);
    expect(run.stderr).toContain('FERRY_SIG_BAD');
    expect(run.stderr).not.toContain('file://');
    expect(run.stderr).toContain(blobFilePath(digest));
    expect(run.stderr).toContain('streams/v1/index.sjson');
    expect(run.stderr).toMatch(/copy the bundle again/i);
  });
});

describe('ferry import onto a full disk', () => {
  it('says that nothing of the run was kept (FERRY_DISK_FULL), not that partial files were', async (context) => {
    const mounted = await mountSmallExt4(workDir, 'small', 8);
    try {
      const mountPoint = requireMount(mounted, context);
      await fillUntilFree(mountPoint, join(mountPoint, 'ballast'), 16 * KIB);
      const target = join(mountPoint, 'tree');
      const run = await runFerry(['import', ...keyring, bundle.folders[0] ?? '', '--into', target]);
      expect(run.code, describeRun(run)).toBe(1);
      expect(run.stderr).toContain('FERRY_DISK_FULL');
      expect(run.stderr).toContain('partial files of this run were removed');
      expect(run.stderr).not.toContain('partial downloads are kept');
      expect((await walkFiles(target)).filter((path) => path.endsWith('.partial'))).toEqual([]);
    } finally {
      await unmount(mounted);
    }
  });
});
