import { join, posix } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureServer, type FixtureServer } from '../../support/fixture-server.js';
import { runFerry } from '../../support/run-ferry.js';
import { generateStream, type StreamOptions } from '../../support/stream-generator.js';
import {
  KIB,
  MIB,
  dataRequests,
  describeRun,
  editProducts,
  exists,
  expectCompleteMirror,
  filesOf,
  listedItems,
  makeKey,
  makeWorkDir,
  referenceLine,
  removeQuietly,
  signedMetadataPaths,
  walkDirectories,
  type ListedItem,
  type TestKey,
} from './helpers.js';
import { expectRecordedRunsConsistent } from '../../support/published-state.js';

// Issue 7 §1: after every test, each tree or library a run published into lists only files that are present.
afterEach(expectRecordedRunsConsistent);

// Upstream publishes a new version; `ferry mirror --max 2` follows it: only the new files are
// fetched, the oldest version leaves, a squashfs another held product still uses stays, and
// directories that the removals emptied go too.

let workDir: string;
let testKey: TestKey;
let server: FixtureServer | undefined;

const streamDir = (): string => join(workDir, 'stream');
const options = (key: TestKey, versions: number): StreamOptions => ({
  signingKey: key.key,
  releases: ['jammy', 'noble'],
  arches: ['amd64'],
  // GA and HWE kernels of one release share the release's squashfs and manifest.
  kernels: 2,
  versions,
  payloadSizes: { squashfs: 1 * MIB + 5 * KIB, 'boot-initrd': 40 * KIB, 'boot-kernel': 20 * KIB, manifest: 1 * KIB, 'root-tgz': 10 * KIB, 'archive.tar.xz': 2 * KIB },
});

const V3_PRODUCTS = 'streams/v1/com.ubuntu.maas:stable:v3:download.json';
const JAMMY_HWE = 'com.ubuntu.maas.stable:v3:boot:22.04:amd64:hwe-22.04';

beforeAll(async () => {
  workDir = await makeWorkDir('update');
  testKey = await makeKey(workDir, 'Mirror update test');
});

afterAll(async () => {
  await server?.close();
  await removeQuietly(workDir);
});

const key = (item: ListedItem): string => `${item.contentId} ${item.product} ${item.version} ${item.item}`;

describe('ferry mirror when upstream gains a version', () => {
  it('fetches only the new files, removes the oldest version, keeps shared files and prunes emptied directories', async () => {
    const first = await generateStream(streamDir(), options(testKey, 2));
    server = await startFixtureServer({ root: streamDir() });
    const source = `${server.url}streams/v1/index.sjson`;
    const target = join(workDir, 'mirror');
    const mirror = (): ReturnType<typeof runFerry> => runFerry(['mirror', '--max', '2', '-v', '--keyring', testKey.keyringFile, source, target]);

    const initial = await mirror();
    expect(initial.code, describeRun(initial)).toBe(0);
    const before = await listedItems(streamDir(), { max: 2 });
    await expectCompleteMirror(target, streamDir(), filesOf(before));

    // A week later: a third version for every product, except that the jammy HWE kernel was not
    // rebuilt, so that product still lists only the two older versions.
    const [oldest, , newest] = (await generateStream(streamDir(), options(testKey, 3))).versions;
    if (oldest === undefined || newest === undefined) throw new Error('three versions were generated');
    expect(first.versions[0]).toBe(oldest);
    await editProducts(streamDir(), V3_PRODUCTS, testKey.key, (document) => {
      const product = document.products[JAMMY_HWE];
      if (product === undefined) throw new Error(`${JAMMY_HWE} is not in the stream`);
      Reflect.deleteProperty(product.versions, newest);
    });

    const after = await listedItems(streamDir(), { max: 2 });
    const afterFiles = filesOf(after);
    const beforeFiles = filesOf(before);
    const newPaths = [...afterFiles.keys()].filter((path) => !beforeFiles.has(path)).sort();
    const gonePaths = [...beforeFiles.keys()].filter((path) => !afterFiles.has(path)).sort();

    // The scenario is what this test is about: a shared squashfs of the oldest version is still
    // referenced (by jammy HWE), while noble's oldest version goes entirely.
    const sharedSquashfs = `jammy/amd64/${oldest}/squashfs`;
    expect(afterFiles.has(sharedSquashfs)).toBe(true);
    expect(gonePaths).toContain(`jammy/amd64/${oldest}/ga-22.04/generic/boot-kernel`);
    expect(gonePaths).toContain(`noble/amd64/${oldest}/squashfs`);
    expect(newPaths).toContain(`jammy/amd64/${newest}/squashfs`);
    expect(newPaths).not.toContain(`jammy/amd64/${newest}/hwe-22.04/generic/boot-kernel`);

    server.resetCounters();
    const update = await mirror();
    expect(update.code, describeRun(update)).toBe(0);

    // Exactly the new files were requested, each once and whole.
    const requested = dataRequests(server);
    expect(requested.map((entry) => entry.path).sort()).toEqual(newPaths);
    for (const entry of requested) expect(entry.bytesSent, entry.path).toBe(afterFiles.get(entry.path)?.size);

    await expectCompleteMirror(target, streamDir(), afterFiles);
    for (const path of gonePaths) expect(await exists(join(target, path)), `${path} should be gone`).toBe(false);
    expect(await exists(join(target, sharedSquashfs))).toBe(true);

    // Only directories that still hold something are left (sstream-mirror would leave empty ones).
    const wantedDirectories = new Set<string>();
    for (const path of [...afterFiles.keys(), ...(await signedMetadataPaths(streamDir()))]) {
      for (let directory = posix.dirname(path); directory !== '.'; directory = posix.dirname(directory)) wantedDirectories.add(directory);
    }
    expect(await walkDirectories(target)).toEqual([...wantedDirectories].sort());
    expect(await exists(join(target, `noble/amd64/${oldest}`))).toBe(false);
    expect(await exists(join(target, `jammy/amd64/${oldest}/ga-22.04`))).toBe(false);
    expect(await exists(join(target, `jammy/amd64/${oldest}/hwe-22.04/generic/boot-kernel`))).toBe(true);

    // The plan lines: the new versions' items as +, the oldest versions' items as -.
    const beforeKeys = new Set(before.map(key));
    const afterKeys = new Set(after.map(key));
    const added = after.filter((item) => !beforeKeys.has(key(item)));
    const removed = before.filter((item) => !afterKeys.has(key(item)));
    const lines = update.stderr.split('\n');
    expect(lines.filter((line) => line.startsWith('+ '))).toEqual(added.map((item) => referenceLine('+', item)));
    expect(lines.filter((line) => line.startsWith('- ')).sort()).toEqual(removed.map((item) => referenceLine('-', item)).sort());
    const change = added.reduce((sum, item) => sum + item.size, 0) - removed.reduce((sum, item) => sum + item.size, 0);
    expect(lines).toContain(`${Math.trunc(change / MIB)} Mb change`);
    expect(update.stderr).toContain(`removed ${gonePaths.length}.`);
  });
});
