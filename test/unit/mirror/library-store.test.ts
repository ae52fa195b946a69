import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLibrary, type Library } from '../../../src-main/library/index.js';
import { LibraryStore } from '../../../src-main/mirror/library-store.js';
import type { ChecksumAlgorithm } from '../../../src-main/base/hashing.js';
import type { WantedFile } from '../../../src-main/mirror/plan.js';
import { sha256Hex, useTempDirs } from '../library/helpers.js';

const tempDir = useTempDirs();
let library: Library;
let sourceId: number;
let store: LibraryStore;

beforeEach(async () => {
  library = await openLibrary(await tempDir('library-store'));
  sourceId = library.catalog.upsertSource('http://127.0.0.1/streams/v1/index.sjson', 'streams/v1/index.sjson');
  store = new LibraryStore(library, sourceId);
});

afterEach(() => {
  library.close();
});

const SQUASHFS = Buffer.from('the root file system of noble');

/** A wanted file as the plan makes it; `listed` is the strongest checksum the metadata gives. */
function wanted(path: string, bytes: Buffer, listed: ChecksumAlgorithm = 'sha256'): WantedFile {
  const sha256 = sha256Hex(bytes);
  return {
    path,
    size: bytes.length,
    checksum: { algorithm: listed, hex: createHash(listed).update(bytes).digest('hex') },
    sha256: listed === 'sha256' ? sha256 : undefined,
    items: [],
  };
}

/** Downloads the way the engine does: into partialPath, then place(). */
async function fetchInto(file: WantedFile, bytes: Buffer): Promise<string> {
  const partialPath = store.partialPath(file);
  await writeFile(partialPath, bytes);
  const sha256 = sha256Hex(bytes);
  await store.place(file, partialPath, { sha256, size: bytes.length });
  return sha256;
}

function hold(file: WantedFile, sha256: string): void {
  library.catalog.addHeldItems([
    { sourceId, contentId: 'com.example:v3', product: 'noble', version: '1', item: file.path, path: file.path, size: file.size, sha256 },
  ]);
}

/** Puts bytes at a blob's path without telling the catalog, as a copy or a crash would. */
async function writeBlobBehindTheCatalog(sha256: string, bytes: Buffer): Promise<string> {
  const path = library.blobs.pathFor(sha256);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  return path;
}

describe('LibraryStore', () => {
  it('stores bytes listed under two paths once, downloading them to two partial files', async () => {
    const first = wanted('noble/20250101/squashfs', SQUASHFS);
    const copy = wanted('copies/noble/20250101/squashfs', SQUASHFS);
    // Both downloads may run at once: one partial file must never have two writers.
    expect(store.partialPath(first)).toBe(library.blobs.partialPath(first.sha256 ?? ''));
    expect(store.partialPath(copy)).not.toBe(store.partialPath(first));
    expect(store.partialPath(first)).toBe(library.blobs.partialPath(first.sha256 ?? ''));

    const sha256 = await fetchInto(first, SQUASHFS);
    await fetchInto(copy, SQUASHFS);
    expect(library.catalog.listBlobs().map((blob) => blob.sha256)).toEqual([sha256]);
    expect(await readdir(library.blobs.temp.partialDir)).toEqual([]);
    expect(await store.present(copy, false)).toBe(sha256);
    expect(await store.peek(copy)).toBe(true);
  });

  it('trusts a blob the catalog vouches for, and re-hashes it when asked, removing it when wrong', async () => {
    const file = wanted('noble/20250101/squashfs', SQUASHFS);
    const sha256 = await fetchInto(file, SQUASHFS);
    const path = library.blobs.pathFor(sha256);
    const { mtime } = await stat(path);
    // Whole seconds survive utimes; the catalog is told the new time by a re-hash below.
    const second = new Date(Math.floor(mtime.getTime() / 1000) * 1000);
    await utimes(path, second, second);
    expect(await store.present(file, false)).toBe(sha256);

    const damaged = Buffer.from(SQUASHFS);
    damaged[0] = (damaged[0] ?? 0) ^ 0xff;
    await writeFile(path, damaged);
    await utimes(path, second, second);
    expect(await store.present(file, false)).toBe(sha256);
    expect(await store.present(file, true)).toBeUndefined();
    await expect(stat(path)).rejects.toThrow(/ENOENT/);
    expect(library.catalog.getBlob(sha256)).toBeUndefined();
  });

  it('hashes a blob the catalog does not know: records it when right, removes it when wrong', async () => {
    const file = wanted('noble/20250101/squashfs', SQUASHFS);
    const sha256 = file.sha256 ?? '';
    await writeBlobBehindTheCatalog(sha256, SQUASHFS);
    expect(await store.present(file, false)).toBe(sha256);
    expect(library.catalog.getBlob(sha256)).toMatchObject({ sha256, size: SQUASHFS.length });

    const other = wanted('noble/20250101/boot-kernel', Buffer.from('a kernel'));
    const path = await writeBlobBehindTheCatalog(other.sha256 ?? '', Buffer.from('a kerneX'));
    // The right size is not enough.
    expect(await store.peek(other)).toBe(true);
    expect(await store.present(other, false)).toBeUndefined();
    await expect(stat(path)).rejects.toThrow(/ENOENT/);
  });

  it('forgets a blob deleted behind its back, with the items that relied on it', async () => {
    const file = wanted('noble/20250101/squashfs', SQUASHFS);
    const sha256 = await fetchInto(file, SQUASHFS);
    hold(file, sha256);
    await rm(library.blobs.pathFor(sha256));
    expect(await store.present(file, false)).toBeUndefined();
    expect(library.catalog.getBlob(sha256)).toBeUndefined();
    expect(library.catalog.heldItems(sourceId)).toEqual([]);
  });

  it('finds an item that lists only sha512 through the bytes held at its path', async () => {
    const file = wanted('bootloaders/grub.tar.xz', Buffer.from('grub'), 'sha512');
    expect(await store.present(file, false)).toBeUndefined();
    expect(await store.peek(file)).toBe(false);
    const sha256 = await fetchInto(file, Buffer.from('grub'));
    hold(file, sha256);

    expect(await store.present(file, false)).toBe(sha256);
    expect(await store.present(file, true)).toBe(sha256);
    expect(await store.peek(file)).toBe(true);
    // Listed now with other bytes: the held bytes are not these, and they stay for gc to judge.
    const changed = wanted('bootloaders/grub.tar.xz', Buffer.from('grub 2'), 'sha512');
    expect(await store.present(changed, false)).toBeUndefined();
    const relisted = wanted('bootloaders/grub.tar.xz', Buffer.from('GRUB'), 'sha512');
    expect(await store.present(relisted, true)).toBeUndefined();
    expect(library.catalog.getBlob(sha256)).toBeDefined();
  });

  it('never removes a file itself and reports the free space of the library folder', async () => {
    expect(await store.remove()).toBe(false);
    expect(await store.freeBytes()).toBeGreaterThan(0);
  });
});
