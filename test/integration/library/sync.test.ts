import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dataBytesSent, startFixtureServer, type FixtureServer } from '../../support/fixture-server.js';
import { collect, spawnFerry } from '../../support/run-ferry.js';
import { generateStream, type GeneratedStream } from '../../support/stream-generator.js';
import { KIB, filesOf, listedItems, makeKey, makeWorkDir, removeQuietly, sleep, type ListedItem, type TestKey } from '../mirror/helpers.js';
import {
  expectBlobsMatchTheirNames,
  ferryOk,
  jobsOf,
  librarySummary,
  latestSnapshot,
  sha256Hex,
  sha256sOf,
  syncResult,
  upstreamMetadata,
} from './helpers.js';
import { expectRecordedRunsConsistent } from '../../support/published-state.js';

// Issue 7 §1: after every test, each tree or library a run published into lists only files that are present.
afterEach(expectRecordedRunsConsistent);

// `ferry sync` into an empty library, a rerun, `ferry library`, and saved selections, against a
// signed MAAS-shaped stream served on 127.0.0.1.

let workDir: string;
let testKey: TestKey;
let server: FixtureServer;
let stream: GeneratedStream;
let source: string;

beforeAll(async () => {
  workDir = await makeWorkDir('library-sync');
  testKey = await makeKey(workDir, 'Library sync test');
  stream = await generateStream(join(workDir, 'stream'), {
    signingKey: testKey.key,
    releases: ['jammy', 'noble'],
    arches: ['amd64'],
    // GA and HWE kernels of one release share the release's squashfs and manifest.
    kernels: 2,
    versions: 2,
    payloadSizes: { squashfs: 300 * KIB, 'boot-initrd': 40 * KIB, 'boot-kernel': 20 * KIB },
  });
  server = await startFixtureServer({ root: stream.baseDir });
  source = `${server.url}streams/v1/index.sjson`;
});

afterAll(async () => {
  await server.close();
  await removeQuietly(workDir);
});

/** What the library must hold after `--max 1` of everything: the newest version of each product. */
async function newestItems(): Promise<ListedItem[]> {
  return listedItems(stream.baseDir, { max: 1 });
}

describe('ferry sync into an empty library', () => {
  const library = (): string => join(workDir, 'library');
  const sync = (...extra: string[]): Promise<Awaited<ReturnType<typeof ferryOk>>> =>
    ferryOk(['sync', '--library', library(), '--keyring', testKey.keyringFile, '--max', '1', ...extra, source]);

  it('stores each distinct file once, named by its sha256, and records the raw metadata as a snapshot', async () => {
    const run = await sync('--json');
    const outcome = syncResult(run);
    const items = await newestItems();
    const files = filesOf(items);
    const metadata = await upstreamMetadata(stream.baseDir);

    // The scenario this test is about: several items share one squashfs path.
    const squashfsItems = items.filter((item) => item.item === 'squashfs');
    expect(new Set(squashfsItems.map((item) => item.path)).size).toBeLessThan(squashfsItems.length);

    expect(outcome.exitCode).toBe(0);
    expect(outcome.filesFetched).toBe(files.size);
    expect(outcome.bytesFetched).toBe([...files.values()].reduce((sum, file) => sum + file.size, 0));
    expect(dataBytesSent(server)).toBe(outcome.bytesFetched);

    const blobs = await expectBlobsMatchTheirNames(library());
    expect(new Set(blobs.keys())).toEqual(new Set([...sha256sOf(files.values()), ...[...metadata.values()].map(sha256Hex)]));
    expect(blobs.size).toBeLessThan(items.length + metadata.size);
    expect(await readdir(join(library(), 'tmp', 'partial'))).toEqual([]);

    // The snapshot: every signed metadata file, byte for byte as upstream serves it, signed by our key.
    const snapshot = latestSnapshot(library());
    expect(snapshot?.id).toBe(outcome.snapshotId);
    expect(snapshot?.signed).toBe(1);
    expect(JSON.parse(snapshot?.keyring_fingerprints ?? '[]')).toEqual([testKey.key.fingerprint]);
    expect(snapshot?.files.map((file) => file.path).sort()).toEqual([...metadata.keys()].sort());
    for (const file of snapshot?.files ?? []) {
      const blob = blobs.get(file.sha256);
      expect(blob, file.path).toBeDefined();
      const upstream = metadata.get(file.path);
      expect(upstream, file.path).toBeDefined();
      expect((await readFile(blob?.path ?? '')).equals(upstream ?? Buffer.alloc(0)), `${file.path} differs from upstream`).toBe(true);
    }

    const [job] = jobsOf(library(), 'sync');
    expect(job?.status).toBe('succeeded');
    expect(job?.events).toEqual(['loaded', 'plan', 'metadata-written']);
  });

  it('transfers no data bytes when run again', async () => {
    server.resetCounters();
    const run = await sync();
    expect(dataBytesSent(server)).toBe(0);
    // The plan's totals line; which stream it goes to is `ferry mirror`'s business.
    const output = run.stdout + run.stderr;
    expect(output).toContain(`${filesOf(await newestItems()).size} file(s) wanted`);
    expect(output).toContain('0 to fetch (0 B)');
    expect(run.stderr).toContain('Fetched 0 file(s) (0 B)');
    expect(jobsOf(library(), 'sync').map((job) => job.status)).toEqual(['succeeded', 'succeeded']);
  });

  it('lists what it holds with ferry library: products, versions, items and bytes', async () => {
    const items = await newestItems();
    const byProduct = new Map<string, ListedItem[]>();
    for (const item of items) byProduct.set(item.product, [...(byProduct.get(item.product) ?? []), item]);

    const summary = librarySummary(await ferryOk(['library', '--library', library(), '--json']));
    expect(summary.exists).toBe(true);
    expect(summary.products.map((product) => product.product).sort()).toEqual([...byProduct.keys()].sort());
    for (const product of summary.products) {
      const listed = byProduct.get(product.product) ?? [];
      expect(product.versions, product.product).toEqual([listed[0]?.version]);
      expect(product.itemCount, product.product).toBe(listed.length);
      expect(product.bytes, product.product).toBe(listed.reduce((sum, item) => sum + item.size, 0));
      expect(product.sourceUrl).toBe(source);
    }
    const blobs = await expectBlobsMatchTheirNames(library());
    expect(summary.totals.blobs).toBe(blobs.size);
    expect(summary.totals.blobBytes).toBe([...blobs.values()].reduce((sum, blob) => sum + blob.size, 0));
    expect(summary.totals.items).toBe(items.length);

    const text = await ferryOk(['library', '--library', library()]);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe(source);
    expect(lines).toContainEqual(expect.stringMatching(/^PRODUCT +VERSIONS +ITEMS +BYTES$/));
    // The tables and totals fit 80 columns; a URL is never cut, so lines naming one may not.
    for (const line of lines.filter((text) => !text.includes(source))) expect(line.length, line).toBeLessThanOrEqual(80);
    for (const [product, listed] of byProduct) {
      // A name too long for 80 columns keeps its end after a ….
      const row = lines.find((line) => {
        const [first = ''] = line.split(' ');
        return first === product || (first.startsWith('…') && first.length > 12 && product.endsWith(first.slice(1)));
      });
      expect(row, product).toBeDefined();
      expect(row).toContain(` ${listed[0]?.version ?? ''} `);
      expect(row).toMatch(new RegExp(` ${listed.length} +[0-9.]+ KiB$`));
    }
    expect(text.stdout).toContain(`Total: ${byProduct.size} product(s), ${byProduct.size} version(s), ${items.length} item(s)`);
    expect(text.stdout).toContain(`${blobs.size} blob(s) on disk`);
  });
});

describe('saved selections (--profile)', () => {
  it('saves a selection with its source and reruns it by name from another folder', async () => {
    const library = join(workDir, 'profiles');
    const env = { FERRY_LIBRARY: library };
    const filters = ['arch=amd64', 'release=noble', '--or', 'os~(grub*|pxelinux)'];
    const saved = await ferryOk(['sync', '--profile', 'lab', '--max', '1', '--keyring', testKey.keyringFile, source, ...filters, '--json'], 0, env);
    const first = syncResult(saved);
    expect(first.filesFetched).toBeGreaterThan(0);
    expect(first.profile).toBe('lab');

    const summary = librarySummary(await ferryOk(['library', '--json'], 0, env));
    expect(summary.libraryDir).toBe(library);
    expect(summary.profiles).toEqual([expect.objectContaining({ name: 'lab', source, filters, max: 1, keep: false })]);
    expect(summary.products.every((product) => /:24\.04:|:1:(grub|pxelinux)/.test(product.product))).toBe(true);
    const text = await ferryOk(['library'], 0, env);
    expect(text.stdout).toContain(`  lab: --max 1 --keyring ${testKey.keyringFile} ${source} arch=amd64 release=noble --or 'os~(grub*|pxelinux)'\n`);

    server.resetCounters();
    const rerun = syncResult(
      await ferryOk(['sync', '--library', library, '--profile', 'lab', '--keyring', testKey.keyringFile, '--json'], 0, { FERRY_LIBRARY: '' }),
    );
    expect(rerun.filesFetched).toBe(0);
    expect(rerun.filesPresent).toBe(first.filesFetched);
    expect(rerun.plan.filesWanted).toBe(first.plan.filesWanted);
    expect(dataBytesSent(server)).toBe(0);
  });

  it('saves the --path of an entry file outside streams/v1/ and reruns it by name', async () => {
    const library = join(workDir, 'profiles-path');
    // A signed index elsewhere in the mirror: clearsigned bytes stay valid wherever they are served.
    await mkdir(join(stream.baseDir, 'custom'), { recursive: true });
    await copyFile(join(stream.baseDir, 'streams/v1/index.sjson'), join(stream.baseDir, 'custom/entry.sjson'));
    const base = server.url;
    const saved = syncResult(
      await ferryOk(['sync', '--library', library, '--profile', 'elsewhere', '--path', 'custom/entry.sjson', '--keyring', testKey.keyringFile, base, 'os=centos', '--json']),
    );
    expect(saved.filesFetched).toBeGreaterThan(0);

    const summary = librarySummary(await ferryOk(['library', '--library', library, '--json']));
    expect(summary.profiles).toEqual([expect.objectContaining({ name: 'elsewhere', source: base, path: 'custom/entry.sjson', filters: ['os=centos'] })]);
    expect((await ferryOk(['library', '--library', library])).stdout).toContain(`  elsewhere: --path custom/entry.sjson --keyring ${testKey.keyringFile} ${base} os=centos\n`);

    server.resetCounters();
    const rerun = syncResult(await ferryOk(['sync', '--library', library, '--profile', 'elsewhere', '--keyring', testKey.keyringFile, '--json']));
    expect(rerun.filesFetched).toBe(0);
    expect(rerun.filesPresent).toBe(saved.filesFetched);
    expect(server.requestLog.map((entry) => entry.path)).toContain('custom/entry.sjson');
  });

  it('names the saved selections when asked for one that does not exist', async () => {
    const library = join(workDir, 'profiles');
    const run = await ferryOk(['sync', '--library', library, '--profile', 'nope'], 1);
    expect(run.stderr).toContain('No selection named "nope" is saved');
    expect(run.stderr).toContain('Saved selections: lab');
    expect(run.stderr).toContain('FERRY_PROFILE_UNKNOWN');
  });

  it('refuses to change a saved selection without its source, but for --max', async () => {
    const run = await ferryOk(['sync', '--library', join(workDir, 'profiles'), '--profile', 'lab', '--keep'], 2);
    expect(run.stderr).toContain('runs the saved selection as saved');
  });

  // Issue 11 §2: the keyring (and --no-verify) is part of what a saved selection remembers, and
  // --max may be given for one run without changing what is saved.
  it('remembers the keyring, and takes --max for one run only', async () => {
    const library = join(workDir, 'profiles-trust');
    // The keyring is given by a relative path: the profile must still find it from another folder.
    const saved = syncResult(
      await ferryOk(['sync', '--library', library, '--profile', 'trusted', '--max', '1', '--keyring', relative(process.cwd(), testKey.keyringFile), source, 'release=noble', '--json']),
    );
    expect(saved.filesFetched).toBeGreaterThan(0);

    // No --keyring: the bundled Ubuntu keyring would refuse this test key (exit 3).
    const rerun = await ferryOk(['sync', '--library', library, '--profile', 'trusted', '--dry-run'], 0);
    expect(rerun.stderr).toContain(testKey.key.fingerprint);
    expect(rerun.stderr).toContain('0 Mb change');

    const wider = await ferryOk(['sync', '--library', library, '--profile', 'trusted', '--max', '2', '--dry-run'], 0);
    const added = wider.stderr.split('\n').filter((line) => line.startsWith('+ '));
    expect(added.length).toBeGreaterThan(0);
    for (const line of added) expect(line).toContain('noble');
    const summary = librarySummary(await ferryOk(['library', '--library', library, '--json']));
    expect(summary.profiles).toEqual([expect.objectContaining({ name: 'trusted', max: 1, keyringFiles: [testKey.keyringFile], verify: true })]);
    expect((await ferryOk(['library', '--library', library])).stdout).toContain(`  trusted: --max 1 --keyring ${testKey.keyringFile} ${source} release=noble\n`);
  });
});

describe('the command line', () => {
  it('documents sync, library and gc, with the options they share with mirror', async () => {
    const overview = await ferryOk(['--help']);
    for (const name of ['sync', 'library', 'gc']) expect(overview.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    const help = await ferryOk(['help', 'sync']);
    for (const option of ['--library DIR', '--profile NAME', '--max N', '--keep', '--dry-run', '--verify-existing', '--keyring FILE', '--no-verify', '--json']) {
      expect(help.stdout).toContain(option);
    }
    expect((await ferryOk(['gc', '--help'])).stdout).toContain('--dry-run');
    expect((await ferryOk(['help', 'library'])).stdout).toContain('--library DIR');
  });

  it('exits 2 without a source or profile, and for --keep without --max', async () => {
    expect((await ferryOk(['sync'], 2)).stderr).toContain('Name a SOURCE');
    expect((await ferryOk(['sync', '--keep', source], 2)).stderr).toContain('--keep needs --max');
  });

  it('refuses to write to a library that another running job holds', async () => {
    const library = join(workDir, 'locked');
    await mkdir(library);
    // This test's own process stands in for the other job: it is certainly running.
    const holder = { pid: process.pid, job: 'sync', since: '2025-01-02T03:04:05.000Z', token: 'other' };
    await writeFile(join(library, 'lock'), JSON.stringify(holder));
    const run = await ferryOk(['sync', '--library', library, '--keyring', testKey.keyringFile, source, 'os=centos'], 1);
    expect(run.stderr).toContain(`is in use by a Stream Ferry sync job (pid ${process.pid}, since 2025-01-02T03:04:05.000Z)`);
    expect(run.stderr).toContain(`delete ${join(library, 'lock')}`);
    expect(await readdir(library)).toEqual(['lock']);
  });

  it('names a library given as a file as such, writing nothing', async () => {
    const file = join(workDir, 'a-file-not-a-library');
    await writeFile(file, 'not a library');
    const run = await ferryOk(['sync', '--library', file, '--keyring', testKey.keyringFile, source, 'os=centos'], 1);
    expect(run.stderr).toContain('a part of that path is a file, not a directory');
    expect(run.stderr).toContain('(FERRY_TARGET_NOT_DIRECTORY)');
    expect(run.stderr).not.toContain('ENOTDIR');
    expect(await readFile(file, 'utf8')).toBe('not a library');
  });

  it('records a sync killed mid-download as failed (interrupted) when the next sync starts', async () => {
    const library = join(workDir, 'killed');
    // Every item stalls, so the kill lands mid-download, with the job recorded as running.
    server.setFaults((request) => (request.path.includes('streams/v1/') ? undefined : { kind: 'stall', afterBytes: 1, ms: 30_000 }));
    server.resetCounters();
    try {
      const child = spawnFerry(['sync', '--library', library, '--keyring', testKey.keyringFile, source, 'os=centos']);
      const finished = collect(child);
      const deadline = Date.now() + 30_000;
      while (!server.requestLog.some((entry) => !entry.path.includes('streams/v1/')) && child.exitCode === null) {
        if (Date.now() > deadline) throw new Error('ferry sync made no item request within 30 s');
        await sleep(10);
      }
      // Commands that only read, beside the running sync (it holds the catalog in exclusive mode):
      // an immediate answer naming the job, not a 5 s wait for "locked".
      for (const args of [['library'], ['gc', '--dry-run'], ['sync', '--dry-run', '--keyring', testKey.keyringFile, source, 'os=centos']]) {
        const started = Date.now();
        const busy = await ferryOk([...args, '--library', library], 1);
        expect(Date.now() - started, `ferry ${args.join(' ')} answered at once`).toBeLessThan(4000);
        expect(busy.stderr).toContain(`The library ${library} is in use by a Stream Ferry sync job (pid ${String(child.pid)}, since `);
        expect(busy.stderr).toContain('Try again when it ends.');
        expect(busy.stderr).toContain('(FERRY_LIBRARY_BUSY)');
      }
      child.kill('SIGKILL');
      expect((await finished).signal).toBe('SIGKILL');
    } finally {
      server.setFaults(undefined);
    }
    expect(jobsOf(library, 'sync').map((job) => job.status)).toEqual(['running']);

    await ferryOk(['sync', '--library', library, '--keyring', testKey.keyringFile, source, 'os=centos']);

    const [killed, rerun] = jobsOf(library, 'sync');
    expect(killed?.status).toBe('failed');
    expect(killed?.summary).toEqual({ interrupted: true, message: 'The process running this job ended before the job finished.' });
    expect(rerun?.status).toBe('succeeded');
  });

  it('does not create a library for a dry run or for ferry library', async () => {
    const nowhere = join(workDir, 'not-created');
    const dryRun = await ferryOk(['sync', '--library', nowhere, '--dry-run', '--keyring', testKey.keyringFile, source, 'os=centos']);
    expect(dryRun.stdout + dryRun.stderr).toContain('Dry run: nothing was changed.');
    const summary = await ferryOk(['library', '--library', nowhere]);
    expect(summary.stderr).toContain('There is no library at');
    const gc = await ferryOk(['gc', '--library', nowhere]);
    expect(gc.stdout).toContain('Removed 0 blob(s) and 0 partial download(s)');
    await expect(readdir(nowhere)).rejects.toThrow(/ENOENT/);
  });
});
