import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FaultHook, FixtureServer } from '../../support/fixture-server.js';
import { checkPublishedTree, expectRecordedRunsConsistent } from '../../support/published-state.js';
import { runFerry } from '../../support/run-ferry.js';
import { generateStream, type StreamOptions } from '../../support/stream-generator.js';
import {
  describeRun,
  editProducts,
  exists,
  filesOf,
  listedItems,
  makeWorkDir,
  productsFilesOf,
  removeQuietly,
  sleep,
  serveSignedStream,
  twoProductShape,
  twoProductStream,
  type ListedItem,
  type TestKey,
} from './helpers.js';

// Issue 7 §1: removals, metadata and snapshots are committed together, only when every wanted file
// is present and verified. A failed file or an item that cannot be verified leaves the previous
// published state intact (nothing removed, of any product) and exits 1 naming each cause.

afterEach(expectRecordedRunsConsistent);

let workDir: string;
let testKey: TestKey;
let server: FixtureServer;
let streamDir: string;
let source: string;
let targetCount = 0;

const streamOptions = (versions: number): StreamOptions => twoProductStream(testKey.key, versions);

beforeAll(async () => {
  workDir = await makeWorkDir('all-or-nothing');
  ({ testKey, server, source } = await serveSignedStream(workDir, 'Mirror all-or-nothing test', twoProductShape(1)));
  streamDir = join(workDir, 'stream');
});

afterEach(() => {
  server.setFaults(undefined);
});

afterAll(async () => {
  await server.close();
  await removeQuietly(workDir);
});

function newTarget(): string {
  targetCount += 1;
  return join(workDir, `mirror-${targetCount}`);
}

function mirror(target: string, ...extra: string[]): ReturnType<typeof runFerry> {
  return runFerry(['mirror', '--max', '1', '--keyring', testKey.keyringFile, ...extra, source, target]);
}

async function expectPublishedHolds(target: string, label: string): Promise<number> {
  const report = await checkPublishedTree(target, { filters: [], max: 1 });
  expect(report.problems, label).toEqual([]);
  return report.checked;
}

/** Answers 404 for every item file whose path passes `fails`. */
function notFound(fails: (path: string) => boolean): FaultHook {
  return (request) => (!request.path.includes('streams/v1/') && fails(request.path) ? { kind: 'status', status: 404 } : undefined);
}

describe('ferry mirror commits all or nothing', () => {
  it('keeps every old version and the old metadata while one product fails, then publishes and removes once it arrives', async () => {
    const target = newTarget();
    const first = await mirror(target);
    expect(first.code, describeRun(first)).toBe(0);
    const oldItems = await listedItems(streamDir, { max: 1 });
    const oldIndex = await readFile(join(target, 'streams/v1/index.sjson'));

    // Upstream adds a version to both products; the new files of noble 404.
    await generateStream(streamDir, streamOptions(2));
    const newItems = (await listedItems(streamDir, { max: 1 })).filter((item) => !oldItems.some((old) => old.path === item.path));
    const failing = new Set(newItems.filter((item) => item.path.startsWith('noble/')).map((item) => item.path));
    expect(failing.size).toBeGreaterThan(0);
    server.setFaults(notFound((path) => failing.has(path)));
    const failed = await mirror(target);
    expect(failed.code, describeRun(failed)).toBe(1);
    expect(failed.stderr).toContain('nothing was removed and the metadata was not updated, so MAAS still sees the previous state');
    for (const path of failing) expect(failed.stderr).toContain(path);
    // jammy's new version arrived, but its previous version, which the kept metadata lists, stays.
    for (const item of oldItems) expect(await exists(join(target, item.path)), `${item.path} of the previous state`).toBe(true);
    expect((await readFile(join(target, 'streams/v1/index.sjson'))).equals(oldIndex), 'the index is the previous one').toBe(true);
    expect(await expectPublishedHolds(target, 'after the failed run')).toBe(oldItems.length);

    server.setFaults(undefined);
    const fixed = await mirror(target);
    expect(fixed.code, describeRun(fixed)).toBe(0);
    for (const item of oldItems) expect(await exists(join(target, item.path)), `${item.path} was retired`).toBe(false);
    expect(await expectPublishedHolds(target, 'after the fixed run')).toBe(newItems.length);
    await generateStream(streamDir, streamOptions(1));
  });

  describe('refuses a selected item it cannot verify, naming it, and writes no metadata', () => {
    const cases: Array<[string, (item: Record<string, unknown>) => void, RegExp]> = [
      ['no checksum', (item) => delete item['sha256'], /lists no checksum/],
      ['size "12a"', (item) => (item['size'] = '12a'), /lists size "12a", which is not a whole number of bytes/],
      ['a negative size', (item) => (item['size'] = -5), /lists size "-5", which is not a whole number of bytes/],
      ['a fractional size', (item) => (item['size'] = 1.5), /lists size "1.5", which is not a whole number of bytes/],
    ];
    for (const [label, damage, message] of cases) {
      it(label, async () => {
        const [[, productsPath]] = (await productsFilesOf(streamDir)) as [[string, string]];
        const original = await Promise.all([readFile(join(streamDir, productsPath)), readFile(join(streamDir, productsPath.replace(/\.json$/, '.sjson')))]);
        try {
          let named = '';
          await editProducts(streamDir, productsPath, testKey.key, (document) => {
            const [productName, product] = Object.entries(document.products)[0] ?? [];
            const [versionName, version] = Object.entries(product?.versions ?? {}).sort().at(-1) ?? [];
            const [itemName, item] = Object.entries(version?.items ?? {})[0] ?? [];
            if (item === undefined) throw new Error('the generated stream has no item');
            damage(item);
            named = `${String(productName)}/${String(versionName)}/${String(itemName)}`;
          });
          const target = newTarget();
          const run = await mirror(target);
          expect(run.code, describeRun(run)).toBe(1);
          expect(run.stderr).toMatch(message);
          expect(run.stderr).toContain(named);
          expect(await exists(join(target, 'streams/v1/index.sjson')), 'no index was written').toBe(false);
          expect(await exists(join(target, productsPath.replace(/\.json$/, '.sjson'))), 'no products file was written').toBe(false);
        } finally {
          await writeFile(join(streamDir, productsPath), original[0]);
          await writeFile(join(streamDir, productsPath.replace(/\.json$/, '.sjson')), original[1]);
        }
      });
    }
  });

  for (const differ of ['size', 'sha256'] as const) {
    it(`refuses two selected items sharing a path with different ${differ}, naming both, and publishes nothing`, async () => {
      const [[, productsPath]] = (await productsFilesOf(streamDir)) as [[string, string]];
      const original = await Promise.all([readFile(join(streamDir, productsPath)), readFile(join(streamDir, productsPath.replace(/\.json$/, '.sjson')))]);
      try {
        const names: string[] = [];
        await editProducts(streamDir, productsPath, testKey.key, (document) => {
          const [[firstName, first], [secondName, second]] = Object.entries(document.products) as [[string, typeof document.products[string]], [string, typeof document.products[string]]];
          // The newest versions: the ones --max 1 selects.
          const [firstVersion, firstItems] = Object.entries(first.versions).sort().at(-1) ?? [];
          const [secondVersion, secondItems] = Object.entries(second.versions).sort().at(-1) ?? [];
          const firstItem = firstItems?.items['boot-kernel'];
          const secondItem = secondItems?.items['boot-kernel'];
          if (firstItem === undefined || secondItem === undefined) throw new Error('the generated stream has no boot-kernel items');
          secondItem.path = firstItem.path;
          // Same path, and everything else equal but the one field.
          secondItem.sha256 = differ === 'sha256' ? secondItem.sha256.replace(/^./, (c) => (c === '0' ? '1' : '0')) : firstItem.sha256;
          secondItem.size = differ === 'size' ? firstItem.size + 1 : firstItem.size;
          names.push(`${firstName}/${String(firstVersion)}/boot-kernel`, `${secondName}/${String(secondVersion)}/boot-kernel`);
        });
        const target = newTarget();
        const run = await mirror(target);
        expect(run.code, describeRun(run)).toBe(1);
        expect(run.stderr).toMatch(/share the path .* but list different contents/);
        for (const name of names) expect(run.stderr).toContain(name);
        expect(await exists(join(target, 'streams/v1/index.sjson')), 'no index was written').toBe(false);
      } finally {
        await writeFile(join(streamDir, productsPath), original[0]);
        await writeFile(join(streamDir, productsPath.replace(/\.json$/, '.sjson')), original[1]);
      }
    });
  }

  it('says how many files --verify-existing re-hashes, and fetches again the one that proves wrong', async () => {
    const target = newTarget();
    const first = await mirror(target);
    expect(first.code, describeRun(first)).toBe(0);
    const files = [...filesOf(await listedItems(streamDir, { max: 1 })).values()];
    const damaged = files[0];
    if (damaged === undefined) throw new Error('no files');
    // Same size, different bytes, and a later mtime: only a re-hash can tell.
    await sleep(20);
    await writeFile(join(target, damaged.path), Buffer.alloc(damaged.size, 0x5a));
    const run = await mirror(target, '--verify-existing');
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stderr).toContain(`0 to fetch (0 B), ${files.length} to re-verify`);
    expect(run.stderr).toMatch(new RegExp(`Fetched 1 file\\(s\\) \\([^)]*\\); ${files.length - 1} already present and verified`));
  });

  it('holds under random failures: after every run the published metadata lists only present files', async () => {
    // The next member of the kind: any subset of files failing, with upstream moving on between
    // runs, must never leave published metadata naming a missing file.
    const target = newTarget();
    let versions = 1;
    let random = 0x2545f491;
    const next = (): number => {
      random ^= random << 13;
      random ^= random >>> 17;
      random ^= random << 5;
      return (random >>> 0) / 2 ** 32;
    };
    let completed = 0;
    for (let round = 1; round <= 8; round += 1) {
      if (round % 3 === 0) {
        versions += 1;
        await generateStream(streamDir, streamOptions(versions));
      }
      // Only files still missing are fetched, so only they can fail.
      const missing: ListedItem[] = [];
      for (const item of await listedItems(streamDir, { max: 1 })) if (!(await exists(join(target, item.path)))) missing.push(item);
      const failing = new Set(missing.filter(() => next() < 0.25).map((item) => item.path));
      server.setFaults(notFound((path) => failing.has(path)));
      const run = await mirror(target);
      const label = `round ${round}: ${failing.size} failing file(s)`;
      expect(run.code, `${label}\n${describeRun(run)}`).toBe(failing.size === 0 ? 0 : 1);
      if (run.code === 0) completed += 1;
      await expectPublishedHolds(target, label);
    }
    server.setFaults(undefined);
    const last = await mirror(target);
    expect(last.code, describeRun(last)).toBe(0);
    expect(await expectPublishedHolds(target, 'last run')).toBe((await listedItems(streamDir, { max: 1 })).length);
    console.log(`random failures: ${completed} of 8 rounds completed`);
    await generateStream(streamDir, streamOptions(1));
  });
});
