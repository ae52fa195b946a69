import Database from 'better-sqlite3';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Catalog, type NewHeldItem } from '../../../src-main/library/catalog.js';
import { manualClock, sha256Hex, useCatalogs } from './helpers.js';

const openCatalog = useCatalogs();

const SQUASHFS = sha256Hex('squashfs');
const KERNEL_GA = sha256Hex('kernel ga');
const KERNEL_HWE = sha256Hex('kernel hwe');
const INDEX = sha256Hex('index.sjson');
const PRODUCTS = sha256Hex('products.sjson');
const CONTENT_ID = 'com.ubuntu.maas:stable:v3:download';

function blob(sha256: string, size = 10): { sha256: string; size: number; mtimeMs: number } {
  return { sha256, size, mtimeMs: 1_700_000_000_000 };
}

/** Two kernel products of one release that share the release's squashfs, as MAAS streams do. */
function kernelProducts(sourceId: number, version = '20250101'): NewHeldItem[] {
  const item = (product: string, name: string, path: string, sha256: string): NewHeldItem => ({
    sourceId,
    contentId: CONTENT_ID,
    product,
    version,
    item: name,
    path,
    size: 10,
    sha256,
  });
  return [
    item('noble-ga', 'squashfs', `noble/amd64/${version}/squashfs`, SQUASHFS),
    item('noble-ga', 'boot-kernel', `noble/amd64/${version}/ga/boot-kernel`, KERNEL_GA),
    item('noble-hwe', 'squashfs', `noble/amd64/${version}/squashfs`, SQUASHFS),
    item('noble-hwe', 'boot-kernel', `noble/amd64/${version}/hwe/boot-kernel`, KERNEL_HWE),
  ];
}

async function catalogWithSource(): Promise<{ catalog: Catalog; sourceId: number }> {
  const catalog = await openCatalog();
  const sourceId = catalog.upsertSource('https://images.maas.io/ephemeral-v3/stable/', 'streams/v1/index.sjson');
  return { catalog, sourceId };
}

describe('openCopy (for commands that only look)', () => {
  it('reads what the file holds, uncommitted WAL pages included, and never writes the file', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    catalog.addHeldItems(kernelProducts(sourceId));
    // Still open: the rows may be only in the write-ahead log.
    const before = await readFile(catalog.file);
    const beforeStat = await stat(catalog.file);

    const copy = Catalog.openCopy(catalog.file);
    try {
      expect(copy.heldItems(sourceId)).toHaveLength(4);
      copy.upsertSource('https://example.net/other/', 'streams/v1/index.sjson');
      copy.removeHeldItems([{ sourceId, contentId: CONTENT_ID, product: 'noble-ga', version: '20250101', item: 'squashfs' }]);
      expect(copy.heldItems(sourceId)).toHaveLength(3);
    } finally {
      copy.close();
    }

    expect(catalog.heldItems(sourceId)).toHaveLength(4);
    expect(catalog.listSources()).toHaveLength(1);
    expect((await readFile(catalog.file)).equals(before)).toBe(true);
    expect((await stat(catalog.file)).mtimeMs).toBe(beforeStat.mtimeMs);
  });

  it('reads a cleanly closed catalog without creating the files a SQLite connection would', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    catalog.addHeldItems(kernelProducts(sourceId));
    catalog.close();
    const folder = dirname(catalog.file);
    const filesBefore = await readdir(folder);
    expect(filesBefore).toEqual(['catalog.db']);

    const copy = Catalog.openCopy(catalog.file);
    try {
      expect(copy.heldItems(sourceId)).toHaveLength(4);
      copy.upsertSource('https://example.net/other/', 'streams/v1/index.sjson');
    } finally {
      copy.close();
    }

    expect(await readdir(folder)).toEqual(filesBefore);
    const reopened = Catalog.openCopy(catalog.file);
    try {
      expect(reopened.listSources()).toHaveLength(1);
    } finally {
      reopened.close();
    }
  });

  it('names the file when it is not a catalog', async () => {
    const { catalog } = await catalogWithSource();
    const notCatalog = `${catalog.file}.txt`;
    await writeFile(notCatalog, 'not a database, just text long enough to be read as a header '.repeat(20));
    expect(() => Catalog.openCopy(notCatalog)).toThrow(expect.objectContaining({ code: 'FERRY_CATALOG_CORRUPT', path: notCatalog }));
  });
});

describe('sources', () => {
  it('keeps one id per URL and updates its entry path', async () => {
    const catalog = await openCatalog();
    const first = catalog.upsertSource('https://example.org/m/', 'streams/v1/index.sjson');
    const other = catalog.upsertSource('https://example.net/m/', 'streams/v1/index.sjson');
    const again = catalog.upsertSource('https://example.org/m/', 'streams/v1/com.example:p.sjson');
    expect(again).toBe(first);
    expect(other).not.toBe(first);
    expect(catalog.findSource('https://example.org/m/')?.entryPath).toBe('streams/v1/com.example:p.sjson');
    expect(catalog.listSources().map((source) => source.url)).toEqual(['https://example.org/m/', 'https://example.net/m/']);
  });

  it('never stores credentials from a URL', async () => {
    const catalog = await openCatalog();
    const id = catalog.upsertSource('https://user:secret@mirror.example/m/', 'streams/v1/index.sjson');
    const stored = catalog.listSources().find((source) => source.id === id);
    expect(stored?.url).not.toContain('secret');
    expect(catalog.findSource('https://user:secret@mirror.example/m/')?.id).toBe(id);
  });
});

describe('snapshots', () => {
  it('answers the latest snapshot of a source with its files, fingerprints and signed flag', async () => {
    const clock = manualClock('2025-01-01T00:00:00.000Z');
    const catalog = await openCatalog({ now: clock.now });
    const sourceId = catalog.upsertSource('https://example.org/m/', 'streams/v1/index.sjson');
    expect(catalog.latestSnapshot(sourceId)).toBeUndefined();
    catalog.recordSnapshot(sourceId, [{ path: 'streams/v1/index.sjson', sha256: INDEX, size: 5 }], true, ['AAAA']);
    clock.set('2025-02-01T00:00:00.000Z');
    const secondId = catalog.recordSnapshot(
      sourceId,
      [
        { path: 'streams/v1/products.sjson', sha256: PRODUCTS, size: 7 },
        { path: 'streams/v1/index.sjson', sha256: INDEX, size: 5 },
      ],
      false,
      ['BBBB', 'CCCC'],
    );
    expect(catalog.latestSnapshot(sourceId)).toEqual({
      id: secondId,
      sourceId,
      fetchedAt: '2025-02-01T00:00:00.000Z',
      signed: false,
      keyringFingerprints: ['BBBB', 'CCCC'],
      files: [
        { path: 'streams/v1/index.sjson', sha256: INDEX, size: 5 },
        { path: 'streams/v1/products.sjson', sha256: PRODUCTS, size: 7 },
      ],
    });
  });

  it('records a snapshot and its files in one transaction', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    const duplicatePath = [
      { path: 'streams/v1/index.sjson', sha256: INDEX, size: 5 },
      { path: 'streams/v1/index.sjson', sha256: PRODUCTS, size: 7 },
    ];
    expect(() => {
      catalog.recordSnapshot(sourceId, duplicatePath, true, []);
    }).toThrow(/UNIQUE/);
    expect(catalog.latestSnapshot(sourceId)).toBeUndefined();
  });

  it('drops latest snapshots whose metadata blobs are gone, falling back to a complete one', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    catalog.recordBlob(blob(INDEX));
    const completeId = catalog.recordSnapshot(sourceId, [{ path: 'streams/v1/index.sjson', sha256: INDEX, size: 10 }], true, []);
    catalog.recordSnapshot(sourceId, [{ path: 'streams/v1/index.sjson', sha256: PRODUCTS, size: 10 }], true, []);
    catalog.recordSnapshot(sourceId, [{ path: 'streams/v1/index.sjson', sha256: KERNEL_GA, size: 10 }], true, []);
    expect(catalog.dropIncompleteLatestSnapshots()).toBe(2);
    expect(catalog.latestSnapshot(sourceId)?.id).toBe(completeId);
    expect(catalog.dropIncompleteLatestSnapshots()).toBe(0);
  });
});

describe('held items', () => {
  it('lists held items, optionally of one content id', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    catalog.addHeldItems([
      ...kernelProducts(sourceId),
      { sourceId, contentId: 'com.ubuntu.maas:stable:1:bootloader-download', product: 'grub-efi', version: '1', item: 'grub', path: 'bootloaders/grub', size: 3, sha256: sha256Hex('grub') },
    ]);
    expect(catalog.heldItems(sourceId)).toHaveLength(5);
    const ofContent = catalog.heldItems(sourceId, CONTENT_ID);
    expect(ofContent.map((item) => `${item.product}/${item.item}`)).toEqual([
      'noble-ga/boot-kernel',
      'noble-ga/squashfs',
      'noble-hwe/boot-kernel',
      'noble-hwe/squashfs',
    ]);
    expect(catalog.heldItems(sourceId + 1)).toEqual([]);
  });

  it('answers the bytes a source holds at a path, for items that list no sha256', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    catalog.addHeldItems(kernelProducts(sourceId));
    expect(catalog.heldFileAtPath(sourceId, 'noble/amd64/20250101/squashfs')).toEqual({ sha256: SQUASHFS, size: 10 });
    expect(catalog.heldFileAtPath(sourceId, 'noble/amd64/20250101/missing')).toBeUndefined();
    // Another source's paths are relative to another mirror: they say nothing about these bytes.
    expect(catalog.heldFileAtPath(sourceId + 1, 'noble/amd64/20250101/squashfs')).toBeUndefined();
  });

  it('answers held versions of a product in code-unit order', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    for (const version of ['20250102', 'samepaths', '20241231', 'Z-upper', '20250102']) {
      catalog.addHeldItems(kernelProducts(sourceId, version));
    }
    expect(catalog.heldVersions(sourceId, CONTENT_ID, 'noble-ga')).toEqual(['20241231', '20250102', 'Z-upper', 'samepaths']);
    expect(catalog.heldVersions(sourceId, CONTENT_ID, 'jammy-ga')).toEqual([]);
  });

  it('adds a batch in one transaction: one bad item adds none', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    const [first, second] = kernelProducts(sourceId);
    if (first === undefined || second === undefined) throw new Error('fixture');
    expect(() => {
      catalog.addHeldItems([first, { ...second, sha256: 'not-a-digest' }]);
    }).toThrow(/CHECK/);
    expect(catalog.heldItems(sourceId)).toEqual([]);
  });

  it('keeps the first added time when an item is re-added unchanged, and renews it when its file changed', async () => {
    const clock = manualClock('2025-01-01T00:00:00.000Z');
    const catalog = await openCatalog({ now: clock.now });
    const sourceId = catalog.upsertSource('https://example.org/m/', 'streams/v1/index.sjson');
    const [squashfs, kernel] = kernelProducts(sourceId);
    if (squashfs === undefined || kernel === undefined) throw new Error('fixture');
    catalog.addHeldItems([squashfs, kernel]);
    clock.set('2025-03-01T00:00:00.000Z');
    catalog.addHeldItems([squashfs, { ...kernel, sha256: KERNEL_HWE, size: 11 }]);
    const byItem = new Map(catalog.heldItems(sourceId).map((item) => [item.item, item]));
    expect(byItem.get('squashfs')?.addedAt).toBe('2025-01-01T00:00:00.000Z');
    expect(byItem.get('boot-kernel')).toMatchObject({ addedAt: '2025-03-01T00:00:00.000Z', sha256: KERNEL_HWE, size: 11 });
  });

  it('removes items in one transaction and answers how many were held', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    const items = kernelProducts(sourceId);
    catalog.addHeldItems(items);
    const notHeld = { ...items[0], version: '19990101' } as NewHeldItem;
    expect(catalog.removeHeldItems([...items.slice(0, 2), notHeld])).toBe(2);
    expect(catalog.heldItems(sourceId)).toHaveLength(2);
  });

  it('refuses an item of an unknown source (foreign keys are on)', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    expect(() => {
      catalog.addHeldItems(kernelProducts(sourceId + 100));
    }).toThrow(/FOREIGN KEY/);
  });
});

describe('reference counting', () => {
  it('keeps a squashfs shared by two kernel products referenced until both are gone', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    const items = kernelProducts(sourceId);
    catalog.addHeldItems(items);
    const squashfsPath = 'noble/amd64/20250101/squashfs';
    expect(catalog.referencesToPath(squashfsPath)).toBe(2);
    expect(catalog.referencesToBlob(SQUASHFS)).toBe(2);
    catalog.removeHeldItems(items.filter((item) => item.product === 'noble-ga'));
    expect(catalog.referencesToPath(squashfsPath)).toBe(1);
    expect(catalog.referencesToBlob(SQUASHFS)).toBe(1);
    expect(catalog.referencesToBlob(KERNEL_GA)).toBe(0);
    catalog.removeHeldItems(items.filter((item) => item.product === 'noble-hwe'));
    expect(catalog.referencesToPath(squashfsPath)).toBe(0);
    expect(catalog.referencesToBlob(SQUASHFS)).toBe(0);
  });

  it('counts files of the latest snapshot of each source as references, older snapshots not', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    const otherSourceId = catalog.upsertSource('https://example.org/other/', 'streams/v1/index.sjson');
    catalog.recordSnapshot(sourceId, [{ path: 'streams/v1/index.sjson', sha256: INDEX, size: 1 }], true, []);
    catalog.recordSnapshot(otherSourceId, [{ path: 'streams/v1/index.sjson', sha256: INDEX, size: 1 }], true, []);
    expect(catalog.referencesToBlob(INDEX)).toBe(2);
    catalog.recordSnapshot(sourceId, [{ path: 'streams/v1/index.sjson', sha256: PRODUCTS, size: 1 }], true, []);
    expect(catalog.referencesToBlob(INDEX)).toBe(1);
    expect(catalog.referencesToBlob(PRODUCTS)).toBe(1);
  });
});

describe('blobs', () => {
  it('records, reads back, re-verifies and removes a blob', async () => {
    const clock = manualClock('2025-01-01T00:00:00.000Z');
    const catalog = await openCatalog({ now: clock.now });
    catalog.recordBlob(blob(SQUASHFS, 42));
    expect(catalog.getBlob(SQUASHFS)).toEqual({ sha256: SQUASHFS, size: 42, mtimeMs: 1_700_000_000_000, verifiedAt: '2025-01-01T00:00:00.000Z' });
    clock.set('2025-06-01T00:00:00.000Z');
    expect(catalog.markVerified(SQUASHFS, 1_800_000_000_000)).toBe(true);
    expect(catalog.getBlob(SQUASHFS)).toMatchObject({ mtimeMs: 1_800_000_000_000, verifiedAt: '2025-06-01T00:00:00.000Z' });
    expect(catalog.markVerified(KERNEL_GA, 1)).toBe(false);
    expect(catalog.removeBlob(SQUASHFS)).toEqual({ removed: true, heldItemsDropped: 0 });
    expect(catalog.getBlob(SQUASHFS)).toBeUndefined();
    expect(catalog.removeBlob(SQUASHFS)).toEqual({ removed: false, heldItemsDropped: 0 });
  });

  it('drops the held items of a removed blob: they are no longer held', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    for (const sha256 of [SQUASHFS, KERNEL_GA, KERNEL_HWE]) catalog.recordBlob(blob(sha256));
    catalog.addHeldItems(kernelProducts(sourceId));
    expect(catalog.removeBlob(SQUASHFS)).toEqual({ removed: true, heldItemsDropped: 2 });
    expect(catalog.heldItems(sourceId).map((item) => item.sha256).sort()).toEqual([KERNEL_GA, KERNEL_HWE].sort());
  });

  it('drops held items whose blob is not recorded', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    catalog.recordBlob(blob(SQUASHFS));
    catalog.addHeldItems(kernelProducts(sourceId));
    expect(catalog.dropHeldItemsWithoutBlob()).toBe(2);
    expect(catalog.heldItems(sourceId).every((item) => item.sha256 === SQUASHFS)).toBe(true);
  });

  it('lists as unreferenced exactly the blobs no held item and no latest snapshot needs', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    const oldMetadata = sha256Hex('old products');
    const stray = sha256Hex('stray');
    for (const sha256 of [SQUASHFS, KERNEL_GA, KERNEL_HWE, INDEX, PRODUCTS, oldMetadata, stray]) {
      catalog.recordBlob(blob(sha256));
    }
    catalog.addHeldItems(kernelProducts(sourceId));
    catalog.recordSnapshot(sourceId, [{ path: 'streams/v1/products.sjson', sha256: oldMetadata, size: 10 }], true, []);
    catalog.recordSnapshot(
      sourceId,
      [
        { path: 'streams/v1/index.sjson', sha256: INDEX, size: 10 },
        { path: 'streams/v1/products.sjson', sha256: PRODUCTS, size: 10 },
      ],
      true,
      [],
    );
    expect(catalog.unreferencedBlobs().map((record) => record.sha256)).toEqual([oldMetadata, stray].sort());
    catalog.removeHeldItems(kernelProducts(sourceId).filter((item) => item.product === 'noble-hwe'));
    expect(catalog.unreferencedBlobs().map((record) => record.sha256)).toEqual([oldMetadata, stray, KERNEL_HWE].sort());
  });
});

describe('tree files', () => {
  it('puts, gets, lists and deletes tree files', async () => {
    const clock = manualClock('2025-01-01T00:00:00.000Z');
    const catalog = await openCatalog({ now: clock.now });
    catalog.putTreeFile({ path: 'streams/v1/index.sjson', sha256: INDEX, size: 5, mtimeMs: 10 });
    clock.set('2025-01-02T00:00:00.000Z');
    catalog.putTreeFile({ path: 'streams/v1/index.sjson', sha256: PRODUCTS, size: 6, mtimeMs: 20 });
    expect(catalog.getTreeFile('streams/v1/index.sjson')).toEqual({
      path: 'streams/v1/index.sjson',
      sha256: PRODUCTS,
      size: 6,
      mtimeMs: 20,
      verifiedAt: '2025-01-02T00:00:00.000Z',
    });
    expect(catalog.listTreeFiles()).toHaveLength(1);
    expect(catalog.deleteTreeFile('streams/v1/index.sjson')).toEqual({ removed: true, heldItemsDropped: 0 });
    expect(catalog.getTreeFile('streams/v1/index.sjson')).toBeUndefined();
  });

  it('drops the held items at a forgotten tree path, and items whose path has no tree file', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    const items = kernelProducts(sourceId);
    catalog.addHeldItems(items);
    for (const item of items) catalog.putTreeFile({ path: item.path, sha256: item.sha256, size: item.size, mtimeMs: 1 });
    expect(catalog.deleteTreeFile('noble/amd64/20250101/squashfs')).toEqual({ removed: true, heldItemsDropped: 2 });
    expect(catalog.dropHeldItemsWithoutTreeFile()).toBe(0);
    catalog.addHeldItems(items);
    expect(catalog.dropHeldItemsWithoutTreeFile()).toBe(2);
    expect(catalog.heldItems(sourceId).map((item) => item.item)).toEqual(['boot-kernel', 'boot-kernel']);
  });
});

describe('librarySummary', () => {
  it('sums items and bytes per source, content id and product, with sorted versions', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    catalog.addHeldItems([...kernelProducts(sourceId, '20250102'), ...kernelProducts(sourceId, '20250101')]);
    const summary = catalog.librarySummary();
    expect(summary).toEqual([
      { sourceId, sourceUrl: 'https://images.maas.io/ephemeral-v3/stable/', contentId: CONTENT_ID, product: 'noble-ga', versions: ['20250101', '20250102'], itemCount: 4, bytes: 40 },
      { sourceId, sourceUrl: 'https://images.maas.io/ephemeral-v3/stable/', contentId: CONTENT_ID, product: 'noble-hwe', versions: ['20250101', '20250102'], itemCount: 4, bytes: 40 },
    ]);
  });

  it('is empty for an empty catalog', async () => {
    expect((await openCatalog()).librarySummary()).toEqual([]);
  });
});

describe('selections', () => {
  it('saves, reads, lists, replaces and deletes named profiles', async () => {
    const clock = manualClock('2025-01-01T00:00:00.000Z');
    const catalog = await openCatalog({ now: clock.now });
    const noble = {
      name: 'noble',
      source: 'stable',
      path: null,
      filterGroups: [['os=ubuntu', 'release=noble', 'arch~(amd64|arm64)'], ['os~(grub*|pxelinux)']],
      maxVersions: 2,
      keep: true,
    };
    const all = { name: 'all', source: 'https://example.org/m/', path: 'custom/products.sjson', filterGroups: [[]], maxVersions: null, keep: false };
    expect(catalog.saveSelection(noble)).toEqual({ ...noble, updatedAt: '2025-01-01T00:00:00.000Z' });
    catalog.saveSelection(all);
    expect(catalog.getSelection('noble')).toEqual({ ...noble, updatedAt: '2025-01-01T00:00:00.000Z' });
    expect(catalog.getSelection('all')).toEqual({ ...all, updatedAt: '2025-01-01T00:00:00.000Z' });
    clock.set('2025-02-01T00:00:00.000Z');
    catalog.saveSelection({ ...noble, maxVersions: null, keep: false });
    expect(catalog.getSelection('noble')).toMatchObject({ maxVersions: null, keep: false, updatedAt: '2025-02-01T00:00:00.000Z' });
    expect(catalog.listSelections().map((selection) => selection.name)).toEqual(['all', 'noble']);
    catalog.deleteSelection('all');
    expect(catalog.getSelection('all')).toBeUndefined();
  });

  it('refuses to delete a profile that does not exist', async () => {
    const catalog = await openCatalog();
    expect(() => {
      catalog.deleteSelection('nope');
    }).toThrow(expect.objectContaining({ code: 'FERRY_PROFILE_UNKNOWN' }));
  });

  it('reports a stored profile of the wrong shape as a damaged catalog', async () => {
    const catalog = await openCatalog();
    const writer = new Database(catalog.file);
    try {
      writer
        .prepare("INSERT INTO selections (name, source, filter_groups, max_versions, keep, updated_at) VALUES ('bad', 's', '[[1]]', NULL, 0, 'now')")
        .run();
    } finally {
      writer.close();
    }
    expect(() => catalog.getSelection('bad')).toThrow(expect.objectContaining({ code: 'FERRY_CATALOG_CORRUPT', path: catalog.file }));
  });
});

describe('jobs', () => {
  it('marks jobs left running by a process that died as failed, and leaves finished ones alone', async () => {
    const clock = manualClock('2025-01-01T00:00:00.000Z');
    const catalog = await openCatalog({ now: clock.now });
    const finished = catalog.startJob('sync');
    catalog.finishJob(finished, 'succeeded', { completed: 3 });
    const leftRunning = catalog.startJob('sync');
    clock.set('2025-01-02T00:00:00.000Z');

    expect(catalog.failInterruptedJobs()).toBe(1);

    expect(catalog.getJob(leftRunning)).toMatchObject({
      status: 'failed',
      finishedAt: '2025-01-02T00:00:00.000Z',
      summary: { interrupted: true, message: 'The process running this job ended before the job finished.' },
    });
    expect(catalog.getJob(finished)).toMatchObject({ status: 'succeeded', summary: { completed: 3 } });
    expect(catalog.failInterruptedJobs()).toBe(0);
  });

  it('records a job, its numbered events and its outcome', async () => {
    const clock = manualClock('2025-01-01T00:00:00.000Z');
    const catalog = await openCatalog({ now: clock.now });
    const jobId = catalog.startJob('sync');
    expect(catalog.getJob(jobId)).toEqual({ id: jobId, kind: 'sync', startedAt: '2025-01-01T00:00:00.000Z', finishedAt: null, status: 'running', summary: null });
    expect(catalog.addJobEvent(jobId, 'file-done', { path: 'a', bytes: 3 })).toBe(1);
    expect(catalog.addJobEvent(jobId, 'file-failed', { path: 'b', code: 'FERRY_HASH_MISMATCH' })).toBe(2);
    clock.set('2025-01-01T00:10:00.000Z');
    expect(catalog.finishJob(jobId, 'failed', { completed: 1, failed: 1 })).toBe(true);
    expect(catalog.finishJob(jobId, 'succeeded')).toBe(false);
    expect(catalog.getJob(jobId)).toMatchObject({ status: 'failed', finishedAt: '2025-01-01T00:10:00.000Z', summary: { completed: 1, failed: 1 } });
    expect(catalog.jobEvents(jobId)).toEqual([
      { jobId, seq: 1, at: '2025-01-01T00:00:00.000Z', type: 'file-done', data: { path: 'a', bytes: 3 } },
      { jobId, seq: 2, at: '2025-01-01T00:00:00.000Z', type: 'file-failed', data: { path: 'b', code: 'FERRY_HASH_MISMATCH' } },
    ]);
  });

  it('numbers events per job and lists recent jobs newest first', async () => {
    const clock = manualClock('2025-01-01T00:00:00.000Z');
    const catalog = await openCatalog({ now: clock.now });
    const older = catalog.startJob('sync', 'job-older');
    clock.set('2025-01-02T00:00:00.000Z');
    const newer = catalog.startJob('export', 'job-newer');
    expect(newer).toBe('job-newer');
    catalog.addJobEvent(older, 'x', null);
    expect(catalog.addJobEvent(newer, 'x', [1, 'two'])).toBe(1);
    expect(catalog.recentJobs(10).map((job) => job.id)).toEqual(['job-newer', 'job-older']);
    expect(catalog.recentJobs(1).map((job) => job.id)).toEqual(['job-newer']);
    expect(catalog.latestJob('sync')?.id).toBe('job-older');
    expect(catalog.latestJob('export')?.id).toBe('job-newer');
    expect(catalog.latestJob('gc')).toBeUndefined();
  });
});

describe('transactions and closing', () => {
  it('rolls back everything done in a failed transaction', async () => {
    const { catalog, sourceId } = await catalogWithSource();
    expect(() =>
      catalog.transaction(() => {
        catalog.recordBlob(blob(SQUASHFS));
        catalog.addHeldItems(kernelProducts(sourceId));
        throw new Error('interrupted');
      }),
    ).toThrow('interrupted');
    expect(catalog.getBlob(SQUASHFS)).toBeUndefined();
    expect(catalog.heldItems(sourceId)).toEqual([]);
  });

  it('answers what the transaction function returns', async () => {
    const { catalog } = await catalogWithSource();
    expect(catalog.transaction(() => catalog.listSources().length)).toBe(1);
  });

  it('closes once and tolerates a second close', async () => {
    const catalog = await openCatalog();
    catalog.close();
    expect(catalog.isOpen).toBe(false);
    expect(() => {
      catalog.close();
    }).not.toThrow();
  });
});
