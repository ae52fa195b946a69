import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTreeState, type TreeState } from '../../../src-main/library/index.js';
import type { WantedFile } from '../../../src-main/mirror/plan.js';
import { TreeStore } from '../../../src-main/mirror/tree-store.js';
import { sha256Hex, useTempDirs } from '../library/helpers.js';

// The tree writer of `ferry mirror`: every read, write and removal goes through one guard, so no
// item lands in .ferry/ and nothing is written through a link or onto a special file.

const tempDir = useTempDirs();
let target: string;
let outside: string;
let state: TreeState;
let store: TreeStore;

beforeEach(async () => {
  target = await tempDir('tree-store');
  outside = await tempDir('outside');
  state = await openTreeState(target);
  store = new TreeStore(state.targetDir, state.catalog, state.temp);
});

const servers: Server[] = [];
afterEach(async () => {
  state.close();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

function wanted(path: string, bytes: Buffer): WantedFile {
  const sha256 = sha256Hex(bytes);
  return { path, size: bytes.length, checksum: { algorithm: 'sha256', hex: sha256 }, sha256, items: [] };
}

/** Downloads the way the engine does: into partialPath, then place(). */
async function fetchInto(file: WantedFile, bytes: Buffer): Promise<void> {
  const partialPath = store.partialPath(file);
  await writeFile(partialPath, bytes);
  await store.place(file, partialPath, { sha256: sha256Hex(bytes), size: bytes.length });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

const KERNEL = Buffer.from('a kernel');

describe('TreeStore', () => {
  it('places a verified file at its path and records it, replacing metadata atomically', async () => {
    const file = wanted('noble/amd64/20250101/boot-kernel', KERNEL);
    await fetchInto(file, KERNEL);
    expect(await readFile(join(target, file.path))).toEqual(KERNEL);
    expect(state.catalog.getTreeFile(file.path)).toMatchObject({ sha256: sha256Hex(KERNEL), size: KERNEL.length });
    expect(await store.present(file, false)).toBe(sha256Hex(KERNEL));
    for (const content of ['index v1', 'index v2!']) await store.writeMetadata('streams/v1/index.sjson', Buffer.from(content));
    expect(await readFile(join(target, 'streams/v1/index.sjson'), 'utf8')).toBe('index v2!');
    expect(await readdir(state.temp.dir)).toEqual(['partial']);
  });

  it('keeps a recorded file the new metadata re-spins, holding the new bytes in partial/ until publishStaged', async () => {
    const path = 'noble/amd64/20250101/squashfs';
    const respun = Buffer.from('the re-spun squashfs');
    await fetchInto(wanted(path, KERNEL), KERNEL);
    const file = wanted(path, respun);
    // Without hashing (the record vouches) and with --verify-existing (it hashes as recorded).
    for (const rehash of [false, true]) expect(await store.present(file, rehash)).toBeUndefined();
    expect(await readFile(join(target, path))).toEqual(KERNEL);
    const partialPath = store.partialPath(file);
    await fetchInto(file, respun);
    expect(await readFile(join(target, path)), 'nothing published is replaced before publishing').toEqual(KERNEL);
    expect(await readFile(partialPath)).toEqual(respun);
    expect(await store.publishStaged()).toEqual([path]);
    expect(await readFile(join(target, path))).toEqual(respun);
    expect(await exists(partialPath)).toBe(false);
    expect(state.catalog.getTreeFile(path)).toMatchObject({ sha256: sha256Hex(respun), size: respun.length });
    expect(await store.publishStaged(), 'staged files are published once').toEqual([]);
  });

  // Deleting early repairs nothing (the damaged file already breaks the published state), while
  // deleting a file the run then cannot replace would break it; so damage waits like a re-spin.
  it.each([
    ['damaged (matching neither the new metadata nor the record)', true],
    ['unknown to the catalog (lost, or a tree sstream-mirror made)', false],
  ])('keeps a file %s until publishStaged replaces it', async (_kind, recorded) => {
    const path = 'noble/amd64/20250101/squashfs';
    const fresh = Buffer.from('the re-spun squashfs');
    // The new file's size, so present() reads it and finds other bytes.
    const other = Buffer.alloc(fresh.length, 'x');
    if (recorded) await fetchInto(wanted(path, KERNEL), KERNEL);
    else await mkdir(dirname(join(target, path)), { recursive: true });
    await writeFile(join(target, path), other);
    const file = wanted(path, fresh);
    for (const rehash of [false, true]) expect(await store.present(file, rehash)).toBeUndefined();
    expect(await readFile(join(target, path))).toEqual(other);
    expect(state.catalog.getTreeFile(path), 'no record vouches for bytes it does not describe').toBeUndefined();
    await fetchInto(file, fresh);
    expect(await readFile(join(target, path)), 'nothing at a final path is replaced before publishing').toEqual(other);
    expect(await store.publishStaged()).toEqual([path]);
    expect(await readFile(join(target, path))).toEqual(fresh);
  });

  it('gives each path its own partial file, stable across runs, even for the same bytes', async () => {
    const first = wanted('noble/a.img', KERNEL);
    const second = wanted('noble/b.img', KERNEL);
    expect(store.partialPath(first)).not.toBe(store.partialPath(second));
    expect(new TreeStore(state.targetDir, state.catalog, state.temp).partialPath(first)).toBe(store.partialPath(first));
    expect(store.partialPath(first)).toMatch(new RegExp(`/${sha256Hex(KERNEL)}-[0-9a-f]{16}$`));
    // Startup repair keeps it as a resumable download.
    await writeFile(store.partialPath(first), KERNEL.subarray(0, 3));
    expect((await state.temp.sweep(Date.now() + 60_000)).partialFilesKept).toBe(1);
    expect(await exists(store.partialPath(first))).toBe(true);
  });

  it('renames nothing in publishStaged when one held partial file is gone, naming it', async () => {
    const paths = ['noble/a.img', 'noble/b.img'];
    const fresh = Buffer.from('the re-spun image');
    for (const path of paths) await fetchInto(wanted(path, KERNEL), KERNEL);
    for (const path of paths) await fetchInto(wanted(path, fresh), fresh);
    const gone = store.partialPath(wanted(paths[1] ?? '', fresh));
    await rm(gone);
    const error = await store.publishStaged().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'FERRY_IO', path: gone });
    expect((error as Error).message).toContain(paths[1]);
    for (const path of paths) expect(await readFile(join(target, path)), `${path} is the published file still`).toEqual(KERNEL);
  });

  it('refuses a partial file of the wrong size, placing nothing', async () => {
    const file = wanted('a/file', Buffer.from('short'));
    const partialPath = store.partialPath(file);
    await writeFile(partialPath, 'short');
    await expect(store.place(file, partialPath, { sha256: file.sha256 ?? '', size: 99 })).rejects.toMatchObject({
      code: 'FERRY_SIZE_MISMATCH',
      expected: '99',
      actual: '5',
    });
    expect(await exists(join(target, 'a/file'))).toBe(false);
  });

  // The metadata check runs again here: one guard, whatever the caller checked before.
  it.each(['../escape', '/etc/passwd', '.ferry/catalog.db', '.FERRY/lock', '.ferry', 'FERRY~1/catalog.db', ''])(
    'refuses the tree path %j in every operation',
    async (treePath) => {
      const file = wanted(treePath, KERNEL);
      const partialPath = store.partialPath(file);
      await writeFile(partialPath, KERNEL);
      await expect(store.place(file, partialPath, { sha256: sha256Hex(KERNEL), size: KERNEL.length })).rejects.toMatchObject({
        code: 'FERRY_UNSAFE_PATH',
      });
      await expect(store.present(file, false)).rejects.toMatchObject({ code: 'FERRY_UNSAFE_PATH' });
      await expect(store.writeMetadata(treePath, KERNEL)).rejects.toMatchObject({ code: 'FERRY_UNSAFE_PATH' });
      await expect(store.remove(treePath)).rejects.toMatchObject({ code: 'FERRY_UNSAFE_PATH' });
      expect(await exists(partialPath)).toBe(true);
      expect(await exists(join(target, '.ferry', 'catalog.db'))).toBe(true);
    },
  );

  describe('refuses, naming it, what is not a regular file at a file path', () => {
    const kinds: Array<[string, (path: string) => Promise<void>, RegExp]> = [
      ['a symbolic link to a file outside', (path) => symlink(join(outside, 'victim'), path), /^A symbolic link is at .*never writes through links\.$/],
      ['a dangling symbolic link', (path) => symlink(join(outside, 'nothing-here'), path), /^A symbolic link is at /],
      ['a directory', (path) => mkdir(path), /^A directory is at /],
      ['a FIFO', (path) => run('mkfifo', [path]), /^A FIFO \(named pipe\) is at /],
      ['a socket', (path) => listenOn(path), /^A socket is at /],
      ['a character device', (path) => run('mknod', [path, 'c', '1', '3']), /^A character device is at /],
    ];
    it.each(kinds)('%s', async (_kind, make, message) => {
      await writeFile(join(outside, 'victim'), 'not yours');
      const file = wanted('noble/boot-kernel', KERNEL);
      const finalPath = join(target, file.path);
      await mkdir(dirname(finalPath), { recursive: true });
      await make(finalPath);
      const error = await store.present(file, true).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'FERRY_PATH_BLOCKED', path: finalPath });
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).toContain(finalPath);
      const partialPath = store.partialPath(file);
      await writeFile(partialPath, KERNEL);
      await expect(store.place(file, partialPath, { sha256: sha256Hex(KERNEL), size: KERNEL.length })).rejects.toMatchObject({
        code: 'FERRY_PATH_BLOCKED',
      });
      expect(await store.peek(file)).toBe(false);
      expect(await readFile(join(outside, 'victim'), 'utf8')).toBe('not yours');
    });
  });

  it.each([
    ['a symbolic link to a directory outside', (path: string) => symlink(outside, path), /^A symbolic link is at .*, on the way to ubuntu\/noble\/boot-kernel; Stream Ferry never writes through links\.$/],
    ['a regular file', (path: string) => writeFile(path, 'x'), /^A regular file is at .*, where the directory holding ubuntu\/noble\/boot-kernel belongs\.$/],
  ])('refuses %s on the way to a file, naming it, and writes nothing outside', async (_kind, make, message) => {
    await mkdir(join(outside, 'noble'));
    await writeFile(join(outside, 'noble', 'boot-kernel'), 'wrong bytes, same size!');
    await make(join(target, 'ubuntu'));
    const file = wanted('ubuntu/noble/boot-kernel', KERNEL);
    for (const attempt of [
      () => store.present(file, true),
      async () => {
        const partialPath = store.partialPath(file);
        await writeFile(partialPath, KERNEL);
        await store.place(file, partialPath, { sha256: sha256Hex(KERNEL), size: KERNEL.length });
      },
      () => store.remove(file.path),
      () => store.writeMetadata(file.path, KERNEL),
    ]) {
      const error = await attempt().catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'FERRY_PATH_BLOCKED', path: join(target, 'ubuntu') });
      expect((error as Error).message).toMatch(message);
    }
    // present() with a re-hash would have deleted this wrong file, had it followed the link.
    expect(await readFile(join(outside, 'noble', 'boot-kernel'), 'utf8')).toBe('wrong bytes, same size!');
  });

  it('removes a link at a removed path itself, never what it points to', async () => {
    await writeFile(join(outside, 'victim'), 'not yours');
    await mkdir(join(target, 'old'));
    await symlink(join(outside, 'victim'), join(target, 'old', 'squashfs'));
    expect(await store.remove('old/squashfs')).toBe(true);
    expect(await exists(join(target, 'old'))).toBe(false);
    expect(await readFile(join(outside, 'victim'), 'utf8')).toBe('not yours');
  });

  it('does not flush or publish through a link planted at the partial path', async () => {
    const file = wanted('noble/boot-kernel', KERNEL);
    await writeFile(join(outside, 'victim'), KERNEL);
    await symlink(join(outside, 'victim'), store.partialPath(file));
    await expect(store.place(file, store.partialPath(file), { sha256: sha256Hex(KERNEL), size: KERNEL.length })).rejects.toMatchObject({
      code: 'FERRY_IO',
    });
    expect(await exists(join(target, file.path))).toBe(false);
  });
});

async function run(command: string, args: string[]): Promise<void> {
  await promisify(execFile)(command, args);
}

/** A listening Unix socket at `path`, open until the test ends (closing may remove the file). */
async function listenOn(path: string): Promise<void> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  servers.push(server);
}
