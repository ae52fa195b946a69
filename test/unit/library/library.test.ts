import { mkdir, readdir, rm, stat, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultLibraryDir, openLibrary, openTrustedLibrary } from '../../../src-main/library/library.js';
import type { Library } from '../../../src-main/library/library.js';
import type { NewHeldItem } from '../../../src-main/library/catalog.js';
import { deadPid, manualClock, sha256Hex, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();
const openLibraries: Library[] = [];
afterEach(() => {
  for (const library of openLibraries.splice(0)) library.close();
});

async function open(dir: string, options: { now?: () => Date } = {}): Promise<Library> {
  const library = await openLibrary(dir, options);
  openLibraries.push(library);
  return library;
}

/** Closes the library the way a killed process would leave it: the catalog file stays as last committed. */
function crash(library: Library): void {
  library.close();
}

// Whole seconds: utimes passes seconds as a float, and a fraction may not survive the round trip.
const AN_HOUR_AGO = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function makeOld(path: string): Promise<void> {
  await utimes(path, AN_HOUR_AGO, AN_HOUR_AGO);
}

/** Stores bytes as a held item of a fresh source, the way a completed sync leaves them. */
async function holdItem(library: Library, content: string, item = 'squashfs'): Promise<NewHeldItem> {
  const sourceId = library.catalog.upsertSource('https://images.maas.io/ephemeral-v3/stable/', 'streams/v1/index.sjson');
  const blob = await library.blobs.writeBytes(Buffer.from(content));
  library.catalog.recordBlob(blob);
  const held: NewHeldItem = {
    sourceId,
    contentId: 'com.ubuntu.maas:stable:v3:download',
    product: 'noble-ga',
    version: '20250101',
    item,
    path: `noble/amd64/20250101/${item}`,
    size: blob.size,
    sha256: blob.sha256,
  };
  library.catalog.addHeldItems([held]);
  return held;
}

const NOTHING_REPAIRED = {
  finding: 'interrupted-run',
  tempFilesRemoved: 0,
  partialFilesKept: 0,
  blobRowsDropped: 0,
  blobFilesDeleted: 0,
  blobFilesAdopted: 0,
  blobsRehashed: 0,
  heldItemsDropped: 0,
  snapshotsDropped: 0,
};

describe('openLibrary', () => {
  it('creates the folders and the catalog, and has nothing to repair in a new library', async () => {
    const dir = join(await tempDir(), 'nested', 'library');
    const library = await open(dir);
    expect(library.dir).toBe(dir);
    expect(await exists(join(dir, 'catalog.db'))).toBe(true);
    expect(await exists(join(dir, 'blobs', 'sha256'))).toBe(true);
    expect(await exists(join(dir, 'tmp', 'partial'))).toBe(true);
    expect(library.repaired).toEqual(NOTHING_REPAIRED);
    expect(library.catalog.isOpen).toBe(true);
    library.close();
    expect(library.catalog.isOpen).toBe(false);
  });

  it('stamps catalog rows with the clock it is given', async () => {
    const clock = manualClock('2030-05-06T07:08:09.000Z');
    const library = await open(await tempDir(), { now: clock.now });
    const blob = await library.blobs.writeBytes(Buffer.from('x'));
    library.catalog.recordBlob(blob);
    expect(library.catalog.getBlob(blob.sha256)?.verifiedAt).toBe('2030-05-06T07:08:09.000Z');
  });

  it('keeps what an orderly previous run left, and repairs nothing', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    const held = await holdItem(first, 'squashfs bytes');
    crash(first);
    const second = await open(dir);
    expect(second.repaired).toEqual(NOTHING_REPAIRED);
    expect(second.catalog.heldItems(held.sourceId)).toHaveLength(1);
  });
});

describe('startup repair', () => {
  it('drops a blob row whose file is gone, and the held items that relied on it', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    const held = await holdItem(first, 'squashfs bytes');
    const kept = await holdItem(first, 'kernel bytes', 'boot-kernel');
    crash(first);
    await first.blobs.remove(held.sha256);

    const second = await open(dir);
    expect(second.repaired).toMatchObject({ finding: 'tampering-or-lost-catalog', blobRowsDropped: 1, heldItemsDropped: 1, blobFilesDeleted: 0 });
    expect(second.catalog.getBlob(held.sha256)).toBeUndefined();
    expect(second.catalog.heldItems(held.sourceId).map((item) => item.item)).toEqual([kept.item]);
  });

  it('drops a truncated blob: its row, its file and its held items', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    const held = await holdItem(first, 'a squashfs that will be cut short');
    crash(first);
    await truncate(first.blobs.pathFor(held.sha256), 5);

    const second = await open(dir);
    expect(second.repaired).toMatchObject({ finding: 'tampering-or-lost-catalog', blobRowsDropped: 1, blobFilesDeleted: 1, heldItemsDropped: 1 });
    expect(await exists(second.blobs.pathFor(held.sha256))).toBe(false);
    expect(second.catalog.heldItems(held.sourceId)).toEqual([]);
  });

  it('re-hashes a blob whose mtime changed: kept when intact, dropped when its content changed', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    const intact = await holdItem(first, 'intact bytes', 'intact');
    const altered = await holdItem(first, 'altered bytes', 'altered');
    crash(first);
    await makeOld(first.blobs.pathFor(intact.sha256));
    await writeFile(first.blobs.pathFor(altered.sha256), 'ALTERED bytes');

    const second = await open(dir);
    expect(second.repaired).toMatchObject({
      finding: 'tampering-or-lost-catalog',
      blobsRehashed: 2,
      blobRowsDropped: 1,
      blobFilesDeleted: 1,
      heldItemsDropped: 1,
    });
    const intactRow = second.catalog.getBlob(intact.sha256);
    expect(intactRow?.mtimeMs).toBe(AN_HOUR_AGO.getTime());
    expect(second.catalog.heldItems(intact.sourceId).map((item) => item.item)).toEqual(['intact']);
    expect(await exists(second.blobs.pathFor(altered.sha256))).toBe(false);
  });

  it('adopts a blob file without a row (crash after the rename) once its hash matches', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    await holdItem(first, 'recorded before the crash');
    // Placed on disk, but the process died before recording it.
    const orphan = await first.blobs.writeBytes(Buffer.from('downloaded, never recorded'));
    crash(first);

    const second = await open(dir);
    expect(second.repaired).toMatchObject({ finding: 'interrupted-run', blobFilesAdopted: 1, blobFilesDeleted: 0 });
    expect(second.catalog.getBlob(orphan.sha256)).toMatchObject({ size: orphan.size, mtimeMs: orphan.mtimeMs });
  });

  it('calls blobs adopted into a catalog that recorded none what they are: tampering or a lost catalog', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    await holdItem(first, 'one');
    await holdItem(first, 'two', 'boot-kernel');
    crash(first);
    // The catalog is lost (moved aside); a sync may start a new one and adopt, but must say why.
    await rm(join(dir, 'catalog.db'));

    const second = await open(dir);
    expect(second.repaired).toMatchObject({ finding: 'tampering-or-lost-catalog', blobFilesAdopted: 2 });
  });

  it('takes a row without a file that nothing needs for an interrupted gc, not for tampering', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    await holdItem(first, 'still held');
    const unneeded = await first.blobs.writeBytes(Buffer.from('a version --max let go'));
    first.catalog.recordBlob(unneeded);
    crash(first);
    // gc deletes the file first and its row after; a kill fell in between.
    await first.blobs.remove(unneeded.sha256);

    const second = await open(dir);
    expect(second.repaired).toMatchObject({ finding: 'interrupted-run', blobRowsDropped: 1, heldItemsDropped: 0 });
    expect(second.catalog.getBlob(unneeded.sha256)).toBeUndefined();
  });

  it('refuses a catalog truncated to 0 bytes while blobs are stored, instead of starting a new one', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    const held = await holdItem(first, 'held bytes');
    crash(first);
    await truncate(join(dir, 'catalog.db'), 0);

    await expect(openLibrary(dir)).rejects.toMatchObject({ code: 'FERRY_CATALOG_CORRUPT', path: join(dir, 'catalog.db') });
    expect(await exists(first.blobs.pathFor(held.sha256))).toBe(true);
    expect((await stat(join(dir, 'catalog.db'))).size).toBe(0);
  });

  it('deletes a blob file without a row whose content does not match its name', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    const liar = sha256Hex('what the name promises');
    crash(first);
    await mkdir(join(first.blobs.root, 'sha256', liar.slice(0, 2)), { recursive: true });
    await writeFile(first.blobs.pathFor(liar), 'something else');

    const second = await open(dir);
    expect(second.repaired).toMatchObject({ finding: 'tampering-or-lost-catalog', blobFilesAdopted: 0, blobFilesDeleted: 1 });
    expect(await exists(second.blobs.pathFor(liar))).toBe(false);
    expect(second.catalog.getBlob(liar)).toBeUndefined();
  });

  it('removes leftover temp files of dead writers but keeps resumable partials and live writers\' files', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    crash(first);
    const tmp = join(dir, 'tmp');
    const partialDigest = sha256Hex('half a squashfs');
    const leftovers = {
      deadWriter: join(tmp, `squashfs.${String(deadPid())}.0123456789abcdef.tmp`),
      stray: join(tmp, 'something-else'),
      strayFolder: join(tmp, 'old-folder'),
      junkPartial: join(tmp, 'partial', 'not-a-digest.part'),
    };
    const survivors = {
      liveWriter: join(tmp, `squashfs.${String(process.ppid)}.fedcba9876543210.tmp`),
      recent: join(tmp, `recent.${String(deadPid())}.00112233aabbccdd.tmp`),
      partial: join(tmp, 'partial', partialDigest),
      partialSidecar: join(tmp, 'partial', `${partialDigest}.json`),
    };
    await mkdir(leftovers.strayFolder);
    await writeFile(join(leftovers.strayFolder, 'inner'), 'x');
    for (const path of [leftovers.deadWriter, leftovers.stray, leftovers.junkPartial, ...Object.values(survivors)]) {
      await writeFile(path, 'partial bytes');
    }
    for (const path of [...Object.values(leftovers), survivors.liveWriter, survivors.partial, survivors.partialSidecar]) {
      await makeOld(path);
    }

    const second = await open(dir);
    expect(second.repaired).toMatchObject({ tempFilesRemoved: 4, partialFilesKept: 2 });
    for (const path of Object.values(leftovers)) expect(await exists(path), path).toBe(false);
    for (const path of Object.values(survivors)) expect(await exists(path), path).toBe(true);
    expect((await readdir(join(tmp, 'partial'))).sort()).toEqual([partialDigest, `${partialDigest}.json`]);
  });

  it('drops a latest snapshot whose metadata blob is gone, falling back to the previous one', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    const sourceId = first.catalog.upsertSource('https://example.org/m/', 'streams/v1/index.sjson');
    const older = await first.blobs.writeBytes(Buffer.from('index v1'));
    const newer = await first.blobs.writeBytes(Buffer.from('index v2'));
    first.catalog.recordBlob(older);
    first.catalog.recordBlob(newer);
    const olderId = first.catalog.recordSnapshot(sourceId, [{ path: 'streams/v1/index.sjson', sha256: older.sha256, size: older.size }], true, []);
    first.catalog.recordSnapshot(sourceId, [{ path: 'streams/v1/index.sjson', sha256: newer.sha256, size: newer.size }], true, []);
    crash(first);
    await first.blobs.remove(newer.sha256);

    const second = await open(dir);
    expect(second.repaired).toMatchObject({ blobRowsDropped: 1, snapshotsDropped: 1 });
    expect(second.catalog.latestSnapshot(sourceId)?.id).toBe(olderId);
  });

  it('leaves a consistent library that the next start finds nothing to repair in', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    const cut = await holdItem(first, 'to be truncated', 'cut');
    await first.blobs.writeBytes(Buffer.from('orphan'));
    crash(first);
    await truncate(first.blobs.pathFor(cut.sha256), 1);

    const second = await open(dir);
    expect(second.repaired).not.toEqual(NOTHING_REPAIRED);
    crash(second);
    const third = await open(dir);
    expect(third.repaired).toEqual(NOTHING_REPAIRED);
  });
});

describe('defaultLibraryDir', () => {
  it('uses $XDG_DATA_HOME on Linux when it is absolute', () => {
    expect(defaultLibraryDir({ XDG_DATA_HOME: '/data/me' }, 'linux', '/home/me')).toBe('/data/me/stream-ferry');
  });

  it('falls back to ~/.local/share on Linux when $XDG_DATA_HOME is unset, empty or relative', () => {
    for (const env of [{}, { XDG_DATA_HOME: '' }, { XDG_DATA_HOME: 'relative/data' }]) {
      expect(defaultLibraryDir(env, 'linux', '/home/me')).toBe('/home/me/.local/share/stream-ferry');
    }
    expect(defaultLibraryDir({}, 'freebsd', '/home/me')).toBe('/home/me/.local/share/stream-ferry');
  });

  it('uses Application Support on macOS', () => {
    expect(defaultLibraryDir({ XDG_DATA_HOME: '/ignored' }, 'darwin', '/Users/me')).toBe(
      '/Users/me/Library/Application Support/Stream Ferry',
    );
  });

  it('uses %APPDATA% on Windows, or the roaming folder under the home folder', () => {
    expect(defaultLibraryDir({ APPDATA: 'C:\\Users\\me\\AppData\\Roaming' }, 'win32', 'C:\\Users\\me')).toBe(
      'C:\\Users\\me\\AppData\\Roaming\\Stream Ferry',
    );
    expect(defaultLibraryDir({}, 'win32', 'C:\\Users\\me')).toBe('C:\\Users\\me\\AppData\\Roaming\\Stream Ferry');
  });
});

describe('library folders that are links', () => {
  // A link at tmp/ or blobs/ would put partial downloads and blobs (and gc's deletions) outside the library.
  it.each(['tmp', 'tmp/partial', 'blobs', 'blobs/sha256'])('refuses %s as a symbolic link, naming it, for sync and gc alike', async (folder) => {
    const dir = await tempDir('library-link');
    const outside = await tempDir('outside');
    await mkdir(dirname(join(dir, folder)), { recursive: true });
    await symlink(outside, join(dir, folder));
    for (const open of [openLibrary, openTrustedLibrary]) {
      await expect(open(dir)).rejects.toMatchObject({ code: 'FERRY_PATH_BLOCKED', path: join(dir, folder) });
    }
    expect(await readdir(outside), 'nothing was written through the link').toEqual([]);
    expect(await readdir(dir)).not.toContain('catalog.db');
  });
});
