import { execFile } from 'node:child_process';
import { cp, lstat, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { startFixtureServer, type FixtureServer } from '../../support/fixture-server.js';
import { mountSmallExt4, unmount, type Mounted } from '../../support/loop-disk.js';
import { checkPublishedTree } from '../../support/published-state.js';
import { runFerry } from '../../support/run-ferry.js';
import type { GeneratedStream } from '../../support/stream-generator.js';
import {
  KIB,
  STATE_FOLDER,
  describeRun,
  editProducts,
  exists,
  expectCompleteMirror,
  expectNothingUnverified,
  makeWorkDir,
  nobleShape,
  productsFilesOf,
  removeQuietly,
  serveSignedStream,
  sha256OfFile,
  walkFiles,
  type ListedFile,
  type TestKey,
} from './helpers.js';

// Writes stay where they belong: no item reaches .ferry/ (our state), nothing is written through a
// link or onto a special file someone put in the tree (that file fails, the others arrive), a
// subdirectory on another file system is written by copy + flush + rename, and a TARGET that is a
// file is named as such before anything is written.

const execFileAsync = promisify(execFile);

let workDir: string;
let testKey: TestKey;
let stream: GeneratedStream;
let server: FixtureServer;
let source: string;
let listed: Map<string, ListedFile>;
let targetCount = 0;
/** Loop mounts made by a test, unmounted after all (also when a test fails midway). */
const mounts: Mounted[] = [];

beforeAll(async () => {
  workDir = await makeWorkDir('writes');
  ({ testKey, stream, server, source, listed } = await serveSignedStream(
    workDir,
    'Mirror writes test',
    nobleShape(['amd64', 'arm64'], { squashfs: 256 * KIB, 'boot-initrd': 64 * KIB, 'boot-kernel': 16 * KIB, manifest: 1 * KIB }),
  ));
});

afterAll(async () => {
  await server.close();
  for (const mounted of mounts.splice(0)) await unmount(mounted);
  await removeQuietly(workDir);
});

function newTarget(): string {
  targetCount += 1;
  return join(workDir, `mirror-${targetCount}`);
}

function mirror(target: string, from = source): ReturnType<typeof runFerry> {
  return runFerry(['mirror', '--keyring', testKey.keyringFile, from, target]);
}

/** One listed file of each kind, for the tests that block one path. */
function pathEndingWith(suffix: string): string {
  const path = [...listed.keys()].find((candidate) => candidate.endsWith(suffix));
  if (path === undefined) throw new Error(`no listed file ends with ${suffix}`);
  return path;
}

/** The first item of a stream, named as a plan names it and as a parse error locates it. */
interface MovedItem {
  contentId: string;
  product: string;
  version: string;
  item: string;
}

/**
 * A hostile copy of the stream, signed by the same key, with its first item moved to `hostilePath`
 * (`prepare` may add files first); answers its server and which item moved.
 */
async function hostileStream(hostilePath: string, prepare?: (dir: string) => Promise<void>): Promise<{ server: FixtureServer; moved: MovedItem }> {
  const hostileDir = join(workDir, `hostile-${targetCount}`);
  await cp(stream.baseDir, hostileDir, { recursive: true });
  await prepare?.(hostileDir);
  const [contentId, productsPath] = (await productsFilesOf(hostileDir))[0] ?? ['', ''];
  const moved: MovedItem = { contentId, product: '', version: '', item: '' };
  await editProducts(hostileDir, productsPath, testKey.key, (document) => {
    const [product, fields] = Object.entries(document.products)[0] ?? [];
    const [version, { items } = { items: {} }] = Object.entries(fields?.versions ?? {})[0] ?? [];
    const [item, entryFields] = Object.entries(items)[0] ?? [];
    if (entryFields === undefined) throw new Error('the generated stream has no item');
    entryFields.path = hostilePath;
    Object.assign(moved, { product, version, item });
  });
  return { server: await startFixtureServer({ root: hostileDir }), moved };
}

describe('ferry mirror: item paths inside .ferry/', () => {
  // A hostile copy of the stream, signed by the same key: one item moved into the state folder.
  it.each([
    ['signed', '.ferry/catalog.db', 'streams/v1/index.sjson'],
    ['signed', '.FERRY/lock', 'streams/v1/index.sjson'],
    ['unsigned', '.ferry/lock', 'streams/v1/index.json'],
  ])('refuses a %s item at %s when the metadata is parsed, naming it, and the tree keeps working', async (_kind, hostilePath, entry) => {
    const target = newTarget();
    const first = await mirror(target);
    expect(first.code, describeRun(first)).toBe(0);
    const catalogPath = join(target, STATE_FOLDER, 'catalog.db');
    const catalogBefore = await sha256OfFile(catalogPath);

    const { server: hostile, moved } = await hostileStream(hostilePath);
    const named = `in content ${moved.contentId}, product "${moved.product}", version "${moved.version}", item "${moved.item}"`;
    try {
      const run = await mirror(target, `${hostile.url}${entry}`);
      expect(run.code, describeRun(run)).toBe(1);
      expect(run.stderr).toContain(`Refused the path ${JSON.stringify(hostilePath)} ${named}`);
      expect(run.stderr).toContain('it is inside .ferry/, where Stream Ferry keeps its own state');
      expect(run.stderr).toContain('FERRY_UNSAFE_PATH');
    } finally {
      await hostile.close();
    }
    expect(await sha256OfFile(catalogPath)).toBe(catalogBefore);
    expect(await exists(join(target, STATE_FOLDER, 'lock'))).toBe(false);
    const again = await mirror(target);
    expect(again.code, describeRun(again)).toBe(0);
    await expectCompleteMirror(target, stream.baseDir, listed);
  });
});

describe('ferry mirror: item paths where the metadata is written', () => {
  it.each(['streams/v1/index.sjson', 'Streams/V1/extra.json', 'streams/v1.'])(
    'refuses an item at %s when the metadata is parsed; the published index stays as it was',
    async (hostilePath) => {
      const target = newTarget();
      const first = await mirror(target);
      expect(first.code, describeRun(first)).toBe(0);
      const indexBefore = await readFile(join(target, 'streams/v1/index.sjson'));
      const { server: hostile } = await hostileStream(hostilePath);
      try {
        const run = await mirror(target, `${hostile.url}streams/v1/index.sjson`);
        expect(run.code, describeRun(run)).toBe(1);
        expect(run.stderr).toContain(`Refused the path ${JSON.stringify(hostilePath)}`);
        expect(run.stderr).toContain("it is inside streams/v1/, where the stream's index and products files live");
        expect(run.stderr).toContain('FERRY_UNSAFE_PATH');
      } finally {
        await hostile.close();
      }
      expect((await readFile(join(target, 'streams/v1/index.sjson'))).equals(indexBefore)).toBe(true);
    },
  );

  // A file where a metadata folder must be (a fresh tree) would block every later metadata write.
  it.each(['streams', 'STREAMS'])('refuses an item at the metadata folder %s when the metadata is parsed; a fresh tree gets nothing', async (hostilePath) => {
    const target = newTarget();
    const { server: hostile } = await hostileStream(hostilePath);
    try {
      const run = await mirror(target, `${hostile.url}streams/v1/index.sjson`);
      expect(run.code, describeRun(run)).toBe(1);
      expect(run.stderr).toContain(`Refused the path ${JSON.stringify(hostilePath)}`);
      expect(run.stderr).toContain("it is the folder holding streams/v1/, where the stream's index and products files live");
      expect(hostile.requestsFor(hostilePath), 'never fetched').toBe(0);
    } finally {
      await hostile.close();
    }
    expect(await exists(join(target, hostilePath))).toBe(false);
    const after = await mirror(target);
    expect(after.code, describeRun(after)).toBe(0);
    expect((await checkPublishedTree(target, { filters: [] })).problems).toEqual([]);
  });

  it.each([
    ['mirror/index.sjson', "where this stream's own metadata is written"],
    ['mirror', "a folder holding this stream's metadata file mirror/index.sjson"],
    ['MIRROR', "a folder holding this stream's metadata file mirror/index.sjson"],
  ])('rejects, naming it, an item at %s when --path puts the index at mirror/index.sjson, and publishes nothing', async (hostilePath, why) => {
    const target = newTarget();
    const entry = 'mirror/index.sjson';
    const { server: hostile, moved } = await hostileStream(hostilePath, async (dir) => {
      await mkdir(join(dir, 'mirror'));
      await cp(join(dir, 'streams/v1/index.sjson'), join(dir, entry));
    });
    try {
      const run = await runFerry(['mirror', '--keyring', testKey.keyringFile, '--path', entry, hostile.url, target]);
      expect(run.code, describeRun(run)).toBe(1);
      expect(run.stderr).toContain(`Rejected: Item ${moved.contentId}/${moved.product}/${moved.version}/${moved.item} has the path ${hostilePath}, ${why}`);
      expect(hostile.requestsFor(entry), 'only the metadata fetch').toBe(1);
      if (hostilePath !== entry) expect(hostile.requestsFor(hostilePath), 'the item is never fetched').toBe(0);
    } finally {
      await hostile.close();
    }
    expect(await exists(join(target, hostilePath)), 'nothing was written at the item path').toBe(false);
  });
});

describe('ferry mirror: a state folder that is a link', () => {
  it.each(['.ferry', '.ferry/tmp', '.ferry/tmp/partial'])('refuses %s linked outside TARGET, naming it, before the lock or anything else is written', async (folder) => {
    const target = newTarget();
    const outside = join(workDir, `outside-state-${targetCount}`);
    await mkdir(outside);
    await mkdir(join(target, folder, '..'), { recursive: true });
    await symlink(outside, join(target, folder));
    const run = await mirror(target);
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain(`${join(target, folder)} is a symbolic link`);
    expect(await readdir(outside), 'nothing was written through the link').toEqual([]);
    expect(await walkFiles(target), 'nothing was fetched').toEqual([]);
  });
});

describe('ferry mirror: what someone else put in the tree', () => {
  const kinds: Array<[string, (path: string, outside: string) => Promise<unknown>, string]> = [
    ['a symbolic link to a file outside', (path, outside) => symlink(join(outside, 'victim'), path), 'a symbolic link is at PATH, where the file FILE belongs; Stream Ferry never writes through links'],
    ['a FIFO', (path) => execFileAsync('mkfifo', [path]), 'a FIFO (named pipe) is at PATH, where the file FILE belongs'],
    ['a directory', (path) => mkdir(path), 'a directory is at PATH, where the file FILE belongs'],
  ];
  it.each(kinds)('%s at one item path fails that file only, naming it; every other file is fetched', async (_kind, make, message) => {
    const target = newTarget();
    const outside = join(workDir, `outside-${targetCount}`);
    await mkdir(outside);
    await writeFile(join(outside, 'victim'), 'not yours');
    const blocked = pathEndingWith('boot-kernel');
    const blockedPath = join(target, blocked);
    await mkdir(join(blockedPath, '..'), { recursive: true });
    await make(blockedPath, outside);

    const run = await mirror(target);
    expect(run.code, describeRun(run)).toBe(1);
    const expected = message.replace('PATH', blockedPath).replace('FILE', blocked);
    expect(run.stderr.toLowerCase()).toContain(expected.toLowerCase());
    // Left as it was (not replaced, not written through); then moved away for the tree check.
    const kindAfter = await lstat(blockedPath);
    expect(kindAfter.isFile()).toBe(false);
    await rm(blockedPath, { recursive: true });
    const others = new Map([...listed].filter(([path]) => path !== blocked));
    expect((await expectNothingUnverified(target, stream.baseDir, others)).sort()).toEqual([...others.keys()].sort());
    expect(await readFile(join(outside, 'victim'), 'utf8')).toBe('not yours');
    // The previous (here: no) metadata stays while a file is missing.
    expect((await walkFiles(target)).filter((path) => path.startsWith('streams/'))).toEqual([]);
  });

  it('refuses to write through a symlinked directory on the way (TARGET/ubuntu -> elsewhere), naming the link', async () => {
    const target = newTarget();
    const elsewhere = join(workDir, `elsewhere-${targetCount}`);
    await mkdir(elsewhere);
    await mkdir(target);
    const top = [...listed.keys()][0]?.split('/')[0] ?? '';
    await symlink(elsewhere, join(target, top));

    const run = await mirror(target);
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain(`A symbolic link is at ${join(target, top)}, on the way to `);
    expect(run.stderr).toContain('Stream Ferry never writes through links');
    expect(await readdir(elsewhere)).toEqual([]);
  });
});

describe('ferry mirror: a subdirectory of TARGET on another file system', () => {
  it('places files there by copy, flush and rename, leaving nothing behind', async (context: TestContext) => {
    const target = newTarget();
    const top = [...listed.keys()][0]?.split('/')[0] ?? '';
    // TARGET/<top> is a mount point: rename(2) from TARGET/.ferry/tmp into it says EXDEV.
    const mountPoint = join(target, top);
    const mounted = await mountSmallExt4(workDir, `sub-${targetCount}`, 16, [], mountPoint);
    mounts.push(mounted);
    if (!mounted.ok) context.skip(`cannot loop-mount a small ext4 file system: ${mounted.reason}`);

    const run = await mirror(target);
    expect(run.code, describeRun(run)).toBe(0);
    await expectCompleteMirror(target, stream.baseDir, listed);
    // Proof the files crossed file systems: every file under <top> is on the loop device.
    const targetDevice = (await lstat(target)).dev;
    for (const path of (await walkFiles(target)).filter((candidate) => candidate.startsWith(`${top}/`))) {
      expect((await lstat(join(target, path))).dev).not.toBe(targetDevice);
    }
    expect((await walkFiles(target)).filter((path) => path.includes('.ferry-copy'))).toEqual([]);
    expect(await readdir(join(target, STATE_FOLDER, 'tmp', 'partial'))).toEqual([]);
    const rerun = await mirror(target);
    expect(rerun.code, describeRun(rerun)).toBe(0);
    expect(rerun.stdout + rerun.stderr).not.toContain('EXDEV');
  });
});

describe('ferry mirror: TARGET is a file', () => {
  it('says so, naming it, before anything is fetched or written', async () => {
    const target = newTarget();
    await writeFile(target, 'a file');
    server.resetCounters();
    const run = await mirror(target);
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain(`TARGET is a file, not a directory: ${target}`);
    expect(run.stderr).toContain('FERRY_TARGET_NOT_DIRECTORY');
    expect(run.stderr).not.toContain('ENOTDIR');
    expect(server.requestLog).toEqual([]);
    expect(await readFile(target, 'utf8')).toBe('a file');

    const inside = await mirror(join(target, 'mirror'));
    expect(inside.code, describeRun(inside)).toBe(1);
    expect(inside.stderr).toContain(`${target} is a file, not a directory`);
  });
});
