import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FixtureServer } from '../../support/fixture-server.js';
import { runFerry } from '../../support/run-ferry.js';
import { describeRun, type TestKey } from '../mirror/helpers.js';
import {
  blobsOnDisk,
  ferryOk,
  gcOutcome,
  librarySummary,
  readCatalog,
  startSmallStream,
  stopSmallStream,
  syncResult,
  type SmallStream,
} from './helpers.js';
import { expectLatestSnapshotsPresent } from '../../support/published-state.js';

// `ferry gc` deletes, so it acts only on a catalog it can trust: every way of losing or damaging
// catalog.db makes gc (and its dry run) refuse with a code naming the file, and delete nothing.
// What it keeps is decided by the latest metadata itself, not only by the rows that claim to hold it.

let stream: SmallStream | undefined;
let workDir: string;
let testKey: TestKey;
let server: FixtureServer;
let pristine: string;
let copies = 0;

beforeAll(async () => {
  stream = await startSmallStream('gc-trust', 40);
  ({ workDir, testKey, server } = stream);
  pristine = join(workDir, 'pristine');
  await ferryOk(['sync', '--library', pristine, '--keyring', testKey.keyringFile, stream.source]);
});

afterAll(() => stopSmallStream(stream));

/** A copy of the synced library to damage. */
async function libraryCopy(): Promise<string> {
  copies += 1;
  const dir = join(workDir, `copy-${copies}`);
  await cp(pristine, dir, { recursive: true });
  return dir;
}

const catalogOf = (dir: string): string => join(dir, 'catalog.db');

interface Damage {
  name: string;
  code: string;
  message: RegExp;
  damage(dir: string): Promise<void>;
}

const damages: Damage[] = [
  { name: 'truncated to 0 bytes', code: 'FERRY_CATALOG_CORRUPT', message: /is empty \(0 bytes\) while blobs\/ holds \d+ file/, damage: (dir) => truncate(catalogOf(dir), 0) },
  {
    name: 'overwritten with garbage',
    code: 'FERRY_CATALOG_CORRUPT',
    message: /is damaged/,
    damage: (dir) => writeFile(catalogOf(dir), Buffer.alloc(8192, 0x5a)),
  },
  {
    name: 'replaced by a valid but empty SQLite database',
    code: 'FERRY_CATALOG_LOST',
    message: /is a database without a catalog in it/,
    damage: async (dir) => {
      await rm(catalogOf(dir));
      const db = new Database(catalogOf(dir));
      db.exec('CREATE TABLE unrelated (x)');
      db.close();
    },
  },
  {
    name: 'emptied of its blob rows',
    code: 'FERRY_CATALOG_LOST',
    message: /records no blob while blobs\/ holds \d+ file/,
    damage: (dir) => {
      const db = new Database(catalogOf(dir));
      db.exec('DELETE FROM items; DELETE FROM snapshot_files; DELETE FROM snapshots; DELETE FROM blobs');
      db.close();
      return Promise.resolve();
    },
  },
  {
    name: 'written by a newer Stream Ferry',
    code: 'FERRY_CATALOG_TOO_NEW',
    message: /has schema version 99/,
    damage: (dir) => {
      const db = new Database(catalogOf(dir));
      db.pragma('user_version = 99');
      db.close();
      return Promise.resolve();
    },
  },
  { name: 'missing', code: 'FERRY_CATALOG_LOST', message: /is missing while blobs\/ holds \d+ file/, damage: (dir) => rm(catalogOf(dir)) },
  {
    // The next member of the kind: a damaged page that SQLite opens without complaint, so only a
    // check of every page (quick_check) tells.
    name: 'damaged in a page that still opens',
    code: 'FERRY_CATALOG_CORRUPT',
    message: /is damaged: /,
    damage: async (dir) => {
      const rootPage = readCatalog(dir, (db) => db.prepare<[], number>("SELECT rootpage FROM sqlite_schema WHERE name = 'blobs'").pluck().get() ?? 0);
      const pageSize = readCatalog(dir, (db) => Number(db.pragma('page_size', { simple: true })));
      const bytes = await readFile(catalogOf(dir));
      bytes.fill(0xa5, (rootPage - 1) * pageSize + 8, rootPage * pageSize);
      await writeFile(catalogOf(dir), bytes);
    },
  },
];

describe('ferry gc refuses a catalog it cannot trust, and deletes nothing', () => {
  for (const kind of damages) {
    it(`refuses a catalog ${kind.name}`, async () => {
      const dir = await libraryCopy();
      const blobsBefore = [...(await blobsOnDisk(dir)).keys()].sort();
      expect(blobsBefore.length).toBeGreaterThan(3);
      await kind.damage(dir);
      const catalogBefore = await readFile(catalogOf(dir)).catch(() => undefined);

      for (const args of [['gc', '--dry-run'], ['gc']]) {
        const run = await runFerry([...args, '--library', dir]);
        expect(run.code, describeRun(run)).toBe(1);
        expect(run.stderr, describeRun(run)).toContain(kind.code);
        expect(run.stderr).toMatch(kind.message);
        expect(run.stderr).toContain(catalogOf(dir));
        expect(run.stdout).not.toMatch(/removed blob/);
      }
      expect([...(await blobsOnDisk(dir)).keys()].sort()).toEqual(blobsBefore);
      expect(await readFile(catalogOf(dir)).catch(() => undefined)).toEqual(catalogBefore);
    });
  }
});

describe('what gc keeps', () => {
  it('keeps the files the latest snapshot lists even when no held item claims them any more', async () => {
    const dir = await libraryCopy();
    const held = readCatalog(dir, (db) => db.prepare<[], string>('SELECT DISTINCT sha256 FROM items').pluck().all());
    // What a run that removed held items but kept the previous metadata (issue 7 §1) leaves.
    const db = new Database(catalogOf(dir));
    db.exec('DELETE FROM items');
    db.close();
    const gc = gcOutcome(await ferryOk(['gc', '--library', dir, '--json']));
    expect(gc.removedBlobs).toEqual([]);
    const blobs = await blobsOnDisk(dir);
    for (const sha256 of held) expect(blobs.has(sha256), sha256).toBe(true);
  });

  it('keeps a blob that repair adopts in the same run, and removes it on the next run once it is recorded and unneeded', async () => {
    const dir = await libraryCopy();
    // A blob renamed into place by a sync killed before it wrote the row.
    const bytes = Buffer.from('a file a killed sync placed but never recorded');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await mkdir(join(dir, 'blobs', 'sha256', sha256.slice(0, 2)), { recursive: true });
    await writeFile(join(dir, 'blobs', 'sha256', sha256.slice(0, 2), sha256), bytes);

    const first = gcOutcome(await ferryOk(['gc', '--library', dir, '--json']));
    expect(first.removedBlobs).toEqual([]);
    expect((await blobsOnDisk(dir)).has(sha256)).toBe(true);
    const second = gcOutcome(await ferryOk(['gc', '--library', dir, '--json']));
    expect(second.removedBlobs).toEqual([{ sha256, size: bytes.length }]);
    await expectLatestSnapshotsPresent(dir);
  });
});

describe('what repair and ferry library say about files changed by hand', () => {
  it('ferry library does not count a blob deleted by hand as on disk', async () => {
    const dir = await libraryCopy();
    const before = librarySummary(await ferryOk(['library', '--library', dir, '--json']));
    const [victim] = [...(await blobsOnDisk(dir)).values()];
    if (victim === undefined) throw new Error('the library holds blobs');
    await rm(victim.path);
    const run = await ferryOk(['library', '--library', dir, '--json']);
    const after = librarySummary(run);
    expect(after.totals.blobs).toBe(before.totals.blobs - 1);
    expect(after.totals.blobBytes).toBe(before.totals.blobBytes - victim.size);
    expect(after.totals.blobsMissing).toBe(1);
    const plain = await ferryOk(['library', '--library', dir]);
    expect(plain.stderr).toContain('1 blob(s) the catalog records are missing from disk');
  });

  it('a sync that finds its catalog lost says so, not "leftovers of an interrupted run", and re-adopts the files', async () => {
    const dir = await libraryCopy();
    await rm(catalogOf(dir));
    server.resetCounters();
    const run = await ferryOk(['sync', '--library', dir, '--keyring', testKey.keyringFile, `${server.url}streams/v1/index.sjson`]);
    expect(run.stderr).toContain('tampering or a lost catalog');
    expect(run.stderr).not.toContain('leftovers of an interrupted run');
    expect(syncResult(await ferryOk(['sync', '--library', dir, '--json', '--keyring', testKey.keyringFile, `${server.url}streams/v1/index.sjson`])).exitCode).toBe(0);
    await expectLatestSnapshotsPresent(dir);
  });

  it('a sync that finds a held blob changed says tampering', async () => {
    const dir = await libraryCopy();
    const [victim] = [...(await blobsOnDisk(dir)).values()].filter((blob) => blob.size > 1000);
    if (victim === undefined) throw new Error('the library holds a data file');
    await truncate(victim.path, 10);
    const run = await ferryOk(['sync', '--library', dir, '--keyring', testKey.keyringFile, `${server.url}streams/v1/index.sjson`]);
    expect(run.stderr).toContain('tampering or a lost catalog');
    await expectLatestSnapshotsPresent(dir);
  });
});
