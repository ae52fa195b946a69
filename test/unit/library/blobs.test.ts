import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BlobStore } from '../../../src-main/library/blobs.js';
import { sha256Hex, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();

async function newStore(): Promise<{ store: BlobStore; dir: string }> {
  const dir = await tempDir('blobs');
  const store = new BlobStore(dir);
  await store.ensureDirectories();
  return { store, dir };
}

/** Writes content to a fresh temp path of the store, as a finished download would be. */
async function finishedDownload(store: BlobStore, content: string | Buffer, label = 'download'): Promise<string> {
  const path = store.tempPath(label);
  await writeFile(path, content);
  return path;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function countFiles(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).length;
}

const CONTENT = 'squashfs bytes';
const DIGEST = sha256Hex(CONTENT);

describe('paths', () => {
  it('fans blobs out by the first two hex characters', async () => {
    const { store, dir } = await newStore();
    expect(store.pathFor(DIGEST)).toBe(join(dir, 'blobs', 'sha256', DIGEST.slice(0, 2), DIGEST));
  });

  it.each([
    ['upper case', DIGEST.toUpperCase()],
    ['too short', DIGEST.slice(1)],
    ['too long', `${DIGEST}0`],
    ['a path', `../../${DIGEST.slice(6)}`],
    ['a separator', `${DIGEST.slice(0, 2)}/${DIGEST.slice(3)}`],
    ['empty', ''],
  ])('refuses a digest that is %s', async (_label, digest) => {
    const { store } = await newStore();
    const refused = { code: 'FERRY_UNSAFE_PATH' };
    expect(() => store.pathFor(digest)).toThrow(expect.objectContaining(refused));
    expect(() => store.partialPath(digest)).toThrow(expect.objectContaining(refused));
    await expect(store.has(digest, 1)).rejects.toMatchObject(refused);
    await expect(store.verify(digest)).rejects.toMatchObject(refused);
    await expect(store.remove(digest)).rejects.toMatchObject(refused);
    await expect(store.adopt(await finishedDownload(store, 'x'), digest, 1)).rejects.toMatchObject(refused);
  });

  it('gives unique temp paths in <dir>/tmp carrying the pid, and a readable label', async () => {
    const { store, dir } = await newStore();
    const first = store.tempPath('noble/amd64/20250101/squashfs');
    const second = store.tempPath('noble/amd64/20250101/squashfs');
    expect(first).not.toBe(second);
    expect(dirname(first)).toBe(join(dir, 'tmp'));
    expect(first).toContain(`.${String(process.pid)}.`);
    expect(first).toMatch(/noble_amd64_20250101_squashfs\.\d+\.[0-9a-f]{16}\.tmp$/);
  });

  it('keeps resumable partials in tmp/partial keyed by digest', async () => {
    const { store, dir } = await newStore();
    expect(store.partialPath(DIGEST)).toBe(join(dir, 'tmp', 'partial', DIGEST));
  });
});

describe('adopt', () => {
  it('moves a finished temp file into place and answers its record', async () => {
    const { store } = await newStore();
    const temp = await finishedDownload(store, CONTENT);
    const adopted = await store.adopt(temp, DIGEST, CONTENT.length);
    expect(adopted).toMatchObject({ sha256: DIGEST, size: CONTENT.length, outcome: 'stored' });
    expect(adopted.mtimeMs).toBe(Math.trunc((await stat(store.pathFor(DIGEST))).mtimeMs));
    expect(await readFile(store.pathFor(DIGEST), 'utf8')).toBe(CONTENT);
    expect(await exists(temp)).toBe(false);
  });

  it('stores the same bytes fetched under two names once', async () => {
    const { store, dir } = await newStore();
    const viaGa = await finishedDownload(store, CONTENT, 'noble-ga/squashfs');
    const viaHwe = await finishedDownload(store, CONTENT, 'noble-hwe/squashfs');
    expect((await store.adopt(viaGa, DIGEST, CONTENT.length)).outcome).toBe('stored');
    const before = await stat(store.pathFor(DIGEST));
    expect((await store.adopt(viaHwe, DIGEST, CONTENT.length)).outcome).toBe('already-present');
    expect(await countFiles(join(dir, 'blobs'))).toBe(1);
    expect(await countFiles(join(dir, 'tmp'))).toBe(0);
    expect((await stat(store.pathFor(DIGEST))).ino).toBe(before.ino);
  });

  it('refuses a temp file whose size is not the one promised, storing nothing', async () => {
    const { store } = await newStore();
    const temp = await finishedDownload(store, CONTENT);
    await expect(store.adopt(temp, DIGEST, CONTENT.length + 1)).rejects.toMatchObject({
      code: 'FERRY_SIZE_MISMATCH',
      expected: String(CONTENT.length + 1),
      actual: String(CONTENT.length),
    });
    expect(await exists(store.pathFor(DIGEST))).toBe(false);
  });

  it('refuses a temp file of the wrong size even when a good copy is already stored', async () => {
    const { store } = await newStore();
    await store.adopt(await finishedDownload(store, CONTENT), DIGEST, CONTENT.length);
    const wrong = await finishedDownload(store, `${CONTENT}!`);
    await expect(store.adopt(wrong, DIGEST, CONTENT.length)).rejects.toMatchObject({ code: 'FERRY_SIZE_MISMATCH' });
    expect(await readFile(store.pathFor(DIGEST), 'utf8')).toBe(CONTENT);
  });

  it('replaces an existing blob of the wrong size instead of trusting it', async () => {
    const { store } = await newStore();
    await store.adopt(await finishedDownload(store, CONTENT), DIGEST, CONTENT.length);
    await truncate(store.pathFor(DIGEST), 3);
    const adopted = await store.adopt(await finishedDownload(store, CONTENT), DIGEST, CONTENT.length);
    expect(adopted.outcome).toBe('replaced-corrupt');
    expect(await readFile(store.pathFor(DIGEST), 'utf8')).toBe(CONTENT);
  });

  it('trusts an existing blob of the right size unless asked to re-hash it', async () => {
    const { store } = await newStore();
    await store.adopt(await finishedDownload(store, CONTENT), DIGEST, CONTENT.length);
    const sameSizeGarbage = 'x'.repeat(CONTENT.length);
    await writeFile(store.pathFor(DIGEST), sameSizeGarbage);
    const trusted = await store.adopt(await finishedDownload(store, CONTENT), DIGEST, CONTENT.length);
    expect(trusted.outcome).toBe('already-present');
    expect(await readFile(store.pathFor(DIGEST), 'utf8')).toBe(sameSizeGarbage);
    const checked = await store.adopt(await finishedDownload(store, CONTENT), DIGEST, CONTENT.length, {
      verifyExisting: true,
    });
    expect(checked.outcome).toBe('replaced-corrupt');
    expect(await readFile(store.pathFor(DIGEST), 'utf8')).toBe(CONTENT);
  });
});

describe('has', () => {
  it('trusts only a file of exactly the expected size', async () => {
    const { store } = await newStore();
    expect(await store.has(DIGEST, CONTENT.length)).toBe(false);
    await store.adopt(await finishedDownload(store, CONTENT), DIGEST, CONTENT.length);
    expect(await store.has(DIGEST, CONTENT.length)).toBe(true);
    expect(await store.has(DIGEST, CONTENT.length - 1)).toBe(false);
  });
});

describe('verify', () => {
  it('answers ok for an intact blob, streaming one larger than a read chunk', async () => {
    const { store } = await newStore();
    const large = randomBytes(3 * 1024 * 1024 + 17);
    const digest = sha256Hex(large);
    await store.adopt(await finishedDownload(store, large), digest, large.length);
    expect(await store.verify(digest, large.length)).toMatchObject({ status: 'ok', blob: { sha256: digest, size: large.length } });
  });

  it('answers missing, size-mismatch, digest-mismatch and unreadable', async () => {
    const { store } = await newStore();
    expect(await store.verify(DIGEST)).toEqual({ status: 'missing' });

    await store.adopt(await finishedDownload(store, CONTENT), DIGEST, CONTENT.length);
    await truncate(store.pathFor(DIGEST), 4);
    expect(await store.verify(DIGEST, CONTENT.length)).toEqual({ status: 'size-mismatch', expectedSize: CONTENT.length, actualSize: 4 });

    await writeFile(store.pathFor(DIGEST), 'tampered');
    expect(await store.verify(DIGEST)).toEqual({ status: 'digest-mismatch', actualSha256: sha256Hex('tampered') });

    const other = sha256Hex('a directory squats here');
    await mkdir(store.pathFor(other), { recursive: true });
    const unreadable = await store.verify(other);
    expect(unreadable.status).toBe('unreadable');
    expect(unreadable.status === 'unreadable' && unreadable.error.code).toBe('FERRY_IO');
  });
});

describe('remove', () => {
  it('deletes the file and says whether there was one', async () => {
    const { store } = await newStore();
    await store.adopt(await finishedDownload(store, CONTENT), DIGEST, CONTENT.length);
    expect(await store.remove(DIGEST)).toBe(true);
    expect(await exists(store.pathFor(DIGEST))).toBe(false);
    expect(await store.remove(DIGEST)).toBe(false);
  });
});

describe('writeBytes and readBytes', () => {
  it('stores metadata bytes by digest and reads them back, leaving no temp file', async () => {
    const { store, dir } = await newStore();
    const bytes = Buffer.from('{"format": "index:1.0"}');
    const written = await store.writeBytes(bytes);
    expect(written).toMatchObject({ sha256: sha256Hex(bytes), size: bytes.length, outcome: 'stored' });
    expect((await store.writeBytes(bytes)).outcome).toBe('already-present');
    expect(await store.readBytes(written.sha256)).toEqual(bytes);
    expect(await countFiles(join(dir, 'tmp'))).toBe(0);
  });

  it('refuses to read back bytes that no longer match their digest', async () => {
    const { store } = await newStore();
    const written = await store.writeBytes(Buffer.from('signed index'));
    await writeFile(store.pathFor(written.sha256), 'signed indeX');
    await expect(store.readBytes(written.sha256)).rejects.toMatchObject({
      code: 'FERRY_HASH_MISMATCH',
      expected: written.sha256,
      actual: sha256Hex('signed indeX'),
    });
  });

  it('repairs a damaged copy when the same metadata is written again', async () => {
    const { store } = await newStore();
    const bytes = Buffer.from('products');
    const written = await store.writeBytes(bytes);
    await writeFile(store.pathFor(written.sha256), 'producTs');
    expect((await store.writeBytes(bytes)).outcome).toBe('replaced-corrupt');
    expect(await store.readBytes(written.sha256)).toEqual(bytes);
  });

  it('reports a missing blob as an I/O error naming its path', async () => {
    const { store } = await newStore();
    await expect(store.readBytes(DIGEST)).rejects.toMatchObject({ code: 'FERRY_IO', path: store.pathFor(DIGEST) });
  });
});

describe('list', () => {
  it('lists the files named like blobs and ignores anything else', async () => {
    const { store } = await newStore();
    const first = await store.writeBytes(Buffer.from('one'));
    const second = await store.writeBytes(Buffer.from('two'));
    const fanOut = dirname(store.pathFor(first.sha256));
    await writeFile(join(fanOut, 'notes.txt'), 'not a blob');
    // A digest filed under the wrong fan-out folder is not where pathFor looks, so it is not a blob.
    const misfiled = sha256Hex('misfiled');
    const wrongFolder = misfiled.startsWith('00') ? 'ff' : '00';
    await mkdir(join(store.root, 'sha256', wrongFolder), { recursive: true });
    await writeFile(join(store.root, 'sha256', wrongFolder, misfiled), 'misfiled');
    const listed: string[] = [];
    for await (const blob of store.list()) listed.push(blob.sha256);
    expect(listed.sort()).toEqual([first.sha256, second.sha256].sort());
  });
});
