import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FixtureServer } from '../../support/fixture-server.js';
import { checkPublishedLibrary, checkPublishedTree, expectRecordedRunsConsistent } from '../../support/published-state.js';
import { runFerry } from '../../support/run-ferry.js';
import { blobsOnDisk, latestSnapshot } from '../library/helpers.js';
import {
  STATE_FOLDER,
  describeRun,
  editProducts,
  exists,
  listedItems,
  makeWorkDir,
  partialNameOf,
  productsFilesOf,
  removeQuietly,
  sha256OfFile,
  serveSignedStream,
  twoProductShape,
  type ListedItem,
  type TestKey,
} from './helpers.js';

// A re-spin: upstream re-publishes a version it already published, with new bytes at an existing
// path. While a run cannot publish (another file fails), nothing the published metadata lists may
// be replaced or deleted: the new bytes wait, verified, in .ferry/tmp/partial/ and are renamed into
// place only in the publish step. The library is content-addressed, so new bytes get a new name.

afterEach(expectRecordedRunsConsistent);

let workDir: string;
let testKey: TestKey;
let server: FixtureServer;
let streamDir: string;
let source: string;

beforeEach(async () => {
  workDir = await makeWorkDir('respin');
  ({ testKey, server, source } = await serveSignedStream(workDir, 'Mirror re-spin test', twoProductShape(1)));
  streamDir = join(workDir, 'stream');
});

afterEach(async () => {
  await server.close();
  await removeQuietly(workDir);
});

function squashfsOf(items: readonly ListedItem[], release: string): ListedItem {
  const item = items.find((candidate) => candidate.item === 'squashfs' && candidate.path.startsWith(`${release}/`));
  if (item === undefined) throw new Error(`the generated stream has no ${release} squashfs`);
  return item;
}

/**
 * Re-publishes the same version of each given path with new bytes (another size too), as the
 * adversary's respin.py does; `withheld` paths are listed but their new bytes are not served
 * (upstream's file is missing: 404). Answers the new bytes by path.
 */
async function respin(paths: readonly string[], withheld: readonly string[] = []): Promise<Map<string, Buffer>> {
  const fresh = new Map(paths.map((path) => [path, randomBytes(1000 + paths.indexOf(path))]));
  await republish(fresh, withheld);
  return fresh;
}

/**
 * Lists and serves `bytes` at each path: a path already listed gets the new size and sha256 (a
 * re-spin), a new one becomes a new item of the first listed version that holds a squashfs (as
 * the adversary's edit.py adds items). `withheld` paths are listed but answer 404.
 */
async function republish(bytes: ReadonlyMap<string, Buffer>, withheld: readonly string[] = []): Promise<void> {
  const [[, productsPath]] = (await productsFilesOf(streamDir)) as [[string, string]];
  await editProducts(streamDir, productsPath, testKey.key, (document) => {
    const unlisted = new Set(bytes.keys());
    const versions = Object.values(document.products).flatMap((product) => Object.values(product.versions));
    for (const version of versions) {
      for (const item of Object.values(version.items)) {
        const fresh = bytes.get(item.path);
        if (fresh === undefined) continue;
        unlisted.delete(item.path);
        item.sha256 = sha256Hex(fresh);
        item.size = fresh.length;
      }
    }
    const host = versions.find((version) => Object.values(version.items).some((item) => item.path.endsWith('/squashfs')));
    if (host === undefined) throw new Error('the generated stream has no squashfs');
    for (const path of unlisted) {
      const fresh = bytes.get(path) ?? Buffer.alloc(0);
      host.items[`extra-${String(Object.keys(host.items).length)}`] = { path, size: fresh.length, sha256: sha256Hex(fresh) };
    }
  });
  for (const [path, fresh] of bytes) {
    if (withheld.includes(path)) {
      await rm(join(streamDir, path), { force: true });
    } else {
      await mkdir(dirname(join(streamDir, path)), { recursive: true });
      await writeFile(join(streamDir, path), fresh);
    }
  }
}

/** Where a tree keeps the download of `bytes` for `path`. */
function partialOf(target: string, path: string, bytes: Buffer): string {
  return join(target, STATE_FOLDER, 'tmp', 'partial', partialNameOf({ path, sha256: sha256Hex(bytes) }));
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('a re-spin into a mirror tree', () => {
  const mirror = (target: string): ReturnType<typeof runFerry> => {
    return runFerry(['mirror', '--max', '1', '--keyring', testKey.keyringFile, source, target]);
  };

  it('replaces and deletes nothing the published metadata lists while another file 404s, then completes from the kept partial', async () => {
    const target = join(workDir, 'mirror');
    const first = await mirror(target);
    expect(first.code, describeRun(first)).toBe(0);
    const items = await listedItems(streamDir, { max: 1 });
    const noble = squashfsOf(items, 'noble');
    const jammy = squashfsOf(items, 'jammy');
    const oldIndex = await readFile(join(target, 'streams/v1/index.sjson'));

    const fresh = await respin([noble.path, jammy.path], [jammy.path]);
    const failed = await mirror(target);
    expect(failed.code, describeRun(failed)).toBe(1);
    expect(failed.stderr).toContain('MAAS still sees the previous state');
    expect(failed.stderr).toContain(jammy.path);
    // Both re-spun paths still hold the bytes the kept metadata lists.
    expect(await sha256OfFile(join(target, noble.path)), 'noble squashfs was replaced before publishing').toBe(noble.sha256);
    expect(await sha256OfFile(join(target, jammy.path)), 'jammy squashfs was deleted or replaced').toBe(jammy.sha256);
    expect((await readFile(join(target, 'streams/v1/index.sjson'))).equals(oldIndex), 'the index is the previous one').toBe(true);
    const report = await checkPublishedTree(target, { filters: [], max: 1 });
    expect(report.problems, 'after the failed run').toEqual([]);
    expect(report.checked).toBe(items.length);
    // The new noble bytes wait, verified, where a rerun resumes them.
    const nobleFresh = fresh.get(noble.path) ?? Buffer.alloc(0);
    const partial = partialOf(target, noble.path, nobleFresh);
    expect((await readFile(partial)).equals(nobleFresh), 'the verified new bytes are kept in partial/').toBe(true);

    await writeFile(join(streamDir, jammy.path), fresh.get(jammy.path) ?? Buffer.alloc(0));
    server.resetCounters();
    const fixed = await mirror(target);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    expect(server.requestsFor(noble.path), 'the kept partial is not fetched again').toBe(0);
    expect(server.requestsFor(jammy.path)).toBeGreaterThan(0);
    expect(await sha256OfFile(join(target, noble.path))).toBe(sha256Hex(nobleFresh));
    expect(await sha256OfFile(join(target, jammy.path))).toBe(sha256Hex(fresh.get(jammy.path) ?? Buffer.alloc(0)));
    expect(await exists(partial), 'the partial became the file').toBe(false);
    const after = await checkPublishedTree(target, { filters: [], max: 1 });
    expect(after.problems, 'after the fixed run').toEqual([]);
    expect(after.checked).toBe(items.length);
  });

  it('places the new bytes and publishes the new metadata when everything arrives', async () => {
    const target = join(workDir, 'mirror');
    const first = await mirror(target);
    expect(first.code, describeRun(first)).toBe(0);
    const noble = squashfsOf(await listedItems(streamDir, { max: 1 }), 'noble');
    const fresh = await respin([noble.path]);
    const run = await mirror(target);
    expect(run.code, describeRun(run)).toBe(0);
    expect(await readFile(join(target, noble.path))).toEqual(fresh.get(noble.path));
    expect(await readFile(join(target, 'streams/v1/index.sjson'))).toEqual(await readFile(join(streamDir, 'streams/v1/index.sjson')));
    const report = await checkPublishedTree(target, { filters: [], max: 1 });
    expect(report.problems).toEqual([]);
    expect(report.checked).toBeGreaterThan(0);
  });
});

// One rule for every final path (issue 7 §1 and §6, the second adversarial pass): nothing there is
// deleted or replaced before the publish step, whatever it is and whatever the catalog knows; and
// every final path has its own partial file, so equal bytes at two paths never share one.
describe('what is at a final path stays until the publish step', () => {
  const mirror = (target: string): ReturnType<typeof runFerry> => {
    return runFerry(['mirror', '--max', '1', '--keyring', testKey.keyringFile, source, target]);
  };
  const expectPublished = async (target: string, when: string): Promise<void> => {
    const report = await checkPublishedTree(target, { filters: [], max: 1 });
    expect(report.problems, when).toEqual([]);
    expect(report.checked, when).toBeGreaterThan(0);
  };

  it('publishes two published paths re-spun to the same new bytes, after a failed run kept both', async () => {
    const target = join(workDir, 'mirror');
    expect((await mirror(target)).code).toBe(0);
    const items = await listedItems(streamDir, { max: 1 });
    const [first, second] = items.filter((item) => item.path.startsWith('noble/') && item.item !== 'squashfs');
    const jammy = squashfsOf(items, 'jammy');
    if (first === undefined || second === undefined) throw new Error('the generated stream has too few noble items');
    const same = randomBytes(5000);
    const jammyFresh = randomBytes(3000);
    await republish(new Map([[first.path, same], [second.path, same], [jammy.path, jammyFresh]]), [jammy.path]);

    const failed = await mirror(target);
    expect(failed.code, describeRun(failed)).toBe(1);
    for (const old of [first, second, jammy]) expect(await sha256OfFile(join(target, old.path)), `${old.path} kept`).toBe(old.sha256);
    await expectPublished(target, 'after the failed run');

    await writeFile(join(streamDir, jammy.path), jammyFresh);
    const fixed = await mirror(target);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    for (const path of [first.path, second.path]) expect(await sha256OfFile(join(target, path))).toBe(sha256Hex(same));
    await expectPublished(target, 'after the fixed run');
  });

  it('publishes a re-spin whose new bytes equal a newly listed path', async () => {
    const target = join(workDir, 'mirror');
    expect((await mirror(target)).code).toBe(0);
    const manifest = (await listedItems(streamDir, { max: 1 })).find((item) => item.path.startsWith('noble/') && item.item === 'manifest');
    if (manifest === undefined) throw new Error('the generated stream has no noble manifest');
    const same = randomBytes(5000);
    const extra = manifest.path.replace(/[^/]+$/, 'extra');
    await republish(new Map([[manifest.path, same], [extra, same]]));
    const run = await mirror(target);
    expect(run.code, describeRun(run)).toBe(0);
    for (const path of [manifest.path, extra]) expect(await sha256OfFile(join(target, path)), path).toBe(sha256Hex(same));
    await expectPublished(target, 'after the run');
  });

  it('downloads two new paths with the same bytes side by side', async () => {
    const target = join(workDir, 'mirror');
    const same = randomBytes(8 * 1024 * 1024);
    await republish(new Map([['noble/x/a.img', same], ['noble/x/b.img', same]]));
    const run = await mirror(target);
    expect(run.code, describeRun(run)).toBe(0);
    expect(server.requestsFor('noble/x/a.img')).toBeGreaterThan(0);
    expect(server.requestsFor('noble/x/b.img')).toBeGreaterThan(0);
    for (const path of ['noble/x/a.img', 'noble/x/b.img']) expect(await sha256OfFile(join(target, path)), path).toBe(sha256Hex(same));
    await expectPublished(target, 'after the run');
  });

  // Without a catalog, present() knows nothing about the files; they were still published.
  it.each([
    ['whose catalog was lost', async (mirrored: string, target: string) => {
      await rename(mirrored, target);
      for (const suffix of ['', '-wal', '-shm']) await rm(join(target, STATE_FOLDER, `catalog.db${suffix}`), { force: true });
    }],
    ['first made by a plain copy (as sstream-mirror leaves it, no .ferry/)', async (mirrored: string, target: string) => {
      await cp(mirrored, target, { recursive: true, filter: (from) => !from.split('/').includes(STATE_FOLDER) });
    }],
  ])('keeps every published file of a tree %s while a run fails, then publishes', async (_kind, makeTree) => {
    const mirrored = join(workDir, 'first');
    expect((await mirror(mirrored)).code).toBe(0);
    const target = join(workDir, 'mirror');
    await makeTree(mirrored, target);
    expect(await exists(join(target, STATE_FOLDER, 'catalog.db'))).toBe(false);
    const items = await listedItems(streamDir, { max: 1 });
    const noble = squashfsOf(items, 'noble');
    const jammy = squashfsOf(items, 'jammy');
    const fresh = await respin([noble.path, jammy.path], [jammy.path]);

    const failed = await mirror(target);
    expect(failed.code, describeRun(failed)).toBe(1);
    expect(await sha256OfFile(join(target, noble.path)), 'the published noble squashfs is not replaced').toBe(noble.sha256);
    expect(await sha256OfFile(join(target, jammy.path)), 'the published jammy squashfs is not deleted').toBe(jammy.sha256);
    await expectPublished(target, 'after the failed run');

    await writeFile(join(streamDir, jammy.path), fresh.get(jammy.path) ?? Buffer.alloc(0));
    const fixed = await mirror(target);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    expect(await sha256OfFile(join(target, noble.path))).toBe(sha256Hex(fresh.get(noble.path) ?? Buffer.alloc(0)));
    await expectPublished(target, 'after the fixed run');
  });
});

describe('a re-spin into the library', () => {
  it('stores the new bytes under their own name, so a failed sync keeps every blob the latest snapshot lists', async () => {
    const library = join(workDir, 'library');
    const sync = (): ReturnType<typeof runFerry> => {
        return runFerry(['sync', '--library', library, '--keyring', testKey.keyringFile, '--max', '1', source]);
    };
    const first = await sync();
    expect(first.code, describeRun(first)).toBe(0);
    const snapshot = latestSnapshot(library)?.id;
    const items = await listedItems(streamDir, { max: 1 });
    const noble = squashfsOf(items, 'noble');
    const jammy = squashfsOf(items, 'jammy');
    const fresh = await respin([noble.path, jammy.path], [jammy.path]);

    const failed = await sync();
    expect(failed.code, describeRun(failed)).toBe(1);
    expect(latestSnapshot(library)?.id, 'no new snapshot').toBe(snapshot);
    const blobs = await blobsOnDisk(library);
    for (const old of [noble, jammy]) expect(blobs.has(old.sha256), `the old ${old.path} blob stays`).toBe(true);
    expect(blobs.has(sha256Hex(fresh.get(noble.path) ?? Buffer.alloc(0))), 'the new noble bytes are a blob of their own').toBe(true);
    const report = await checkPublishedLibrary(library, { filters: [], max: 1 });
    expect(report.problems).toEqual([]);
    expect(report.checked).toBe(items.length);
  });
  it('refuses a blob fan-out folder that is a link, naming it, and reads, writes and deletes nothing through it', async () => {
    const library = join(workDir, 'library');
    const sync = (...extra: string[]): ReturnType<typeof runFerry> => {
      return runFerry(['sync', '--library', library, '--keyring', testKey.keyringFile, '--max', '1', ...extra, source]);
    };
    expect((await sync()).code).toBe(0);
    const snapshot = latestSnapshot(library)?.id;
    const [victim] = [...(await blobsOnDisk(library)).values()];
    if (victim === undefined) throw new Error('the sync stored no blob');
    const fanOut = dirname(victim.path);
    const outside = join(workDir, 'outside');
    await mkdir(outside);
    await rename(fanOut, join(outside, 'moved'));
    await symlink(join(outside, 'moved'), fanOut);

    const run = await sync('--verify-existing');
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain(`A symbolic link is at ${fanOut}, where the library's blob folder belongs`);
    const gc = await runFerry(['gc', '--library', library]);
    expect(gc.code, describeRun(gc)).toBe(0);
    expect((await readFile(join(outside, 'moved', victim.sha256))).length, 'the blob behind the link is untouched').toBe(victim.size);
    expect(latestSnapshot(library)?.id, 'no new snapshot').toBe(snapshot);
  });
});
