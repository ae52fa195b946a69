import { rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureServer, type FixtureServer } from '../../support/fixture-server.js';
import { generateStream, tamperFile } from '../../support/stream-generator.js';
import { KIB, dataRequests, filesOf, listedItems, makeKey, makeWorkDir, removeQuietly, type ListedFile, type TestKey } from '../mirror/helpers.js';
import { expectBlobsMatchTheirNames, ferryOk } from './helpers.js';
import { expectRecordedRunsConsistent } from '../../support/published-state.js';

// Issue 7 §1: after every test, each tree or library a run published into lists only files that are present.
afterEach(expectRecordedRunsConsistent);

// Someone (or something) changes the library's files behind the catalog's back; the next sync
// notices and fetches exactly what is missing or wrong, and nothing else.

let workDir: string;
let testKey: TestKey;
let server: FixtureServer;
let source: string;
let wanted: Map<string, ListedFile>;

const library = (): string => join(workDir, 'library');
const blobPath = (sha256: string): string => join(library(), 'blobs', 'sha256', sha256.slice(0, 2), sha256);
const sync = (...extra: string[]): ReturnType<typeof ferryOk> =>
  ferryOk(['sync', '--library', library(), '--keyring', testKey.keyringFile, ...extra, source]);

beforeAll(async () => {
  workDir = await makeWorkDir('library-repair');
  testKey = await makeKey(workDir, 'Library repair test');
  const stream = await generateStream(join(workDir, 'stream'), {
    signingKey: testKey.key,
    contents: ['ubuntu'],
    releases: ['jammy', 'noble'],
    arches: ['amd64'],
    kernels: 2,
    versions: 1,
    payloadSizes: { squashfs: 256 * KIB, 'boot-initrd': 32 * KIB, 'boot-kernel': 16 * KIB },
  });
  server = await startFixtureServer({ root: stream.baseDir });
  source = `${server.url}streams/v1/index.sjson`;
  wanted = filesOf(await listedItems(stream.baseDir));
  await sync();
});

afterAll(async () => {
  await server.close();
  await removeQuietly(workDir);
});

function wantedFile(suffix: string): ListedFile {
  const file = [...wanted.values()].find((candidate) => candidate.path.endsWith(suffix));
  if (file === undefined) throw new Error(`no wanted file ends with ${suffix}`);
  return file;
}

/** Runs the sync again and answers the data files it requested, with the bytes sent for each. */
async function resync(...extra: string[]): Promise<Array<{ path: string; bytes: number }>> {
  server.resetCounters();
  await sync(...extra);
  return dataRequests(server).map((entry) => ({ path: entry.path, bytes: entry.bytesSent }));
}

describe('ferry sync repairs a library changed behind its back', () => {
  it('fetches a deleted blob again, once, though two products share it', async () => {
    const squashfs = wantedFile('jammy/amd64/20250615/squashfs');
    await rm(blobPath(squashfs.sha256));
    expect(await resync()).toEqual([{ path: squashfs.path, bytes: squashfs.size }]);
    const blobs = await expectBlobsMatchTheirNames(library());
    expect(blobs.has(squashfs.sha256)).toBe(true);
  });

  it('notices a blob whose content changed (its modification time tells) and fetches it again', async () => {
    const initrd = wantedFile('noble/amd64/20250615/ga-24.04/generic/boot-initrd');
    await tamperFile(join(library(), 'blobs', 'sha256'), `${initrd.sha256.slice(0, 2)}/${initrd.sha256}`);
    expect(await resync()).toEqual([{ path: initrd.path, bytes: initrd.size }]);
    await expectBlobsMatchTheirNames(library());
  });

  it('trusts an unchanged size and modification time, and re-hashes everything with --verify-existing', async () => {
    const kernel = wantedFile('jammy/amd64/20250615/hwe-22.04/generic/boot-kernel');
    const path = blobPath(kernel.sha256);
    // Whole seconds: utimes takes seconds as a float, and a fraction may not survive the round trip.
    const anHourAgo = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
    await utimes(path, anHourAgo, anHourAgo);
    // A changed mtime alone costs a re-hash, not a download; the catalog then vouches for the new one.
    expect(await resync()).toEqual([]);
    await tamperFile(join(library(), 'blobs', 'sha256'), `${kernel.sha256.slice(0, 2)}/${kernel.sha256}`);
    await utimes(path, anHourAgo, anHourAgo);

    // The catalog vouches for size and mtime: that is the cheap check a rerun makes.
    expect(await resync()).toEqual([]);
    expect(await resync('--verify-existing')).toEqual([{ path: kernel.path, bytes: kernel.size }]);
    expect((await expectBlobsMatchTheirNames(library())).has(kernel.sha256)).toBe(true);
  });
});
