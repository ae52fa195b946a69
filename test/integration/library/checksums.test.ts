import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dataBytesSent, startFixtureServer, type FixtureServer } from '../../support/fixture-server.js';
import { generateStream } from '../../support/stream-generator.js';
import { KIB, editProducts, filesOf, listedItems, makeKey, makeWorkDir, removeQuietly, type TestKey } from '../mirror/helpers.js';
import { blobsOnDisk, expectBlobsMatchTheirNames, ferryOk, librarySummary, sha256Hex, syncResult, upstreamMetadata } from './helpers.js';
import { expectRecordedRunsConsistent } from '../../support/published-state.js';

// Issue 7 §1: after every test, each tree or library a run published into lists only files that are present.
afterEach(expectRecordedRunsConsistent);

// Content addressing at its edges: items that list no sha256 at all, and the same bytes published
// under two paths.

let workDir: string;
let testKey: TestKey;
let server: FixtureServer;
let source: string;

const streamDir = (): string => join(workDir, 'stream');
const BOOTLOADERS = 'streams/v1/com.ubuntu.maas:stable:1:bootloader-download.json';
const UBUNTU = 'streams/v1/com.ubuntu.maas:stable:v3:download.json';
const NOBLE = 'com.ubuntu.maas.stable:v3:boot:24.04:amd64:ga-24.04';

beforeAll(async () => {
  workDir = await makeWorkDir('library-checksums');
  testKey = await makeKey(workDir, 'Library checksum test');
  await generateStream(streamDir(), {
    signingKey: testKey.key,
    contents: ['ubuntu', 'bootloaders'],
    releases: ['noble'],
    versions: 1,
    payloadSizes: { squashfs: 128 * KIB, 'boot-initrd': 24 * KIB, 'boot-kernel': 12 * KIB },
  });
  server = await startFixtureServer({ root: streamDir() });
  source = `${server.url}streams/v1/index.sjson`;
});

afterAll(async () => {
  await server.close();
  await removeQuietly(workDir);
});

async function syncJson(library: string, filters: readonly string[], ...options: string[]): Promise<ReturnType<typeof syncResult>> {
  return syncResult(await ferryOk(['sync', '--library', library, '--keyring', testKey.keyringFile, '--json', ...options, source, ...filters]));
}

describe('content addressing', () => {
  it('finds items that list only sha512 again on a rerun instead of downloading them', async () => {
    const bytesByPath = new Map<string, Buffer>();
    for (const item of await listedItems(streamDir(), { product: (fields) => fields.os !== 'ubuntu' })) {
      bytesByPath.set(item.path, await readFile(join(streamDir(), item.path)));
    }
    await editProducts(streamDir(), BOOTLOADERS, testKey.key, (document) => {
      for (const product of Object.values(document.products)) {
        for (const version of Object.values(product.versions)) {
          for (const item of Object.values(version.items) as Array<Record<string, unknown> & { path: string }>) {
            Reflect.deleteProperty(item, 'sha256');
            item.sha512 = createHash('sha512')
              .update(bytesByPath.get(item.path) ?? '')
              .digest('hex');
          }
        }
      }
    });

    const library = join(workDir, 'sha512-only');
    const first = await syncJson(library, ['os~(grub|pxelinux)']);
    expect(first.filesFetched).toBeGreaterThan(0);
    expect(first.failures).toEqual([]);
    const blobs = await expectBlobsMatchTheirNames(library);
    for (const [path, bytes] of bytesByPath) expect(blobs.has(sha256Hex(bytes)), path).toBe(true);

    server.resetCounters();
    const rerun = await syncJson(library, ['os~(grub|pxelinux)']);
    expect(rerun.filesFetched).toBe(0);
    expect(rerun.filesPresent).toBe(first.filesFetched);
    expect(dataBytesSent(server)).toBe(0);

    // Re-hashing checks the listed sha512 too, and finds every file good.
    const verified = await syncJson(library, ['os~(grub|pxelinux)'], '--verify-existing');
    expect(verified.filesFetched).toBe(0);
    expect(dataBytesSent(server)).toBe(0);
  });

  it('stores bytes published under two paths once', async () => {
    // A newer version of one product whose files are copies of the older version's, at new paths.
    const copies = new Map<string, string>();
    await editProducts(streamDir(), UBUNTU, testKey.key, (document) => {
      const product = document.products[NOBLE];
      const [older] = Object.values(product?.versions ?? {});
      if (product === undefined || older === undefined) throw new Error(`${NOBLE} has no version`);
      const items = Object.fromEntries(
        Object.entries(older.items).map(([name, item]) => {
          const path = `copies/${item.path}`;
          copies.set(path, item.path);
          return [name, { ...item, path }];
        }),
      );
      product.versions['20991231'] = { items };
    });
    for (const [copy, original] of copies) {
      await mkdir(dirname(join(streamDir(), copy)), { recursive: true });
      await copyFile(join(streamDir(), original), join(streamDir(), copy));
    }

    const library = join(workDir, 'shared-bytes');
    server.resetCounters();
    const outcome = await syncJson(library, ['os=ubuntu']);
    expect(outcome.failures).toEqual([]);
    const wanted = filesOf(await listedItems(streamDir(), { product: (fields) => fields.os === 'ubuntu' }));
    expect(wanted.size).toBe(2 * copies.size);
    const distinct = new Set([...wanted.values()].map((file) => file.sha256));
    expect(distinct.size).toBe(copies.size);

    const blobs = await expectBlobsMatchTheirNames(library);
    const metadata = new Set([...(await upstreamMetadata(streamDir())).values()].map(sha256Hex));
    expect(new Set([...blobs.keys()].filter((sha256) => !metadata.has(sha256)))).toEqual(distinct);
    expect(await readdir(join(library, 'tmp', 'partial'))).toEqual([]);

    const summary = librarySummary(await ferryOk(['library', '--library', library, '--json']));
    expect(summary.products.find((product) => product.product === NOBLE)?.versions).toEqual(['20250615', '20991231']);
    expect(summary.totals.blobs).toBe((await blobsOnDisk(library)).size);

    server.resetCounters();
    expect((await syncJson(library, ['os=ubuntu'])).filesFetched).toBe(0);
    expect(dataBytesSent(server)).toBe(0);
  });
});
