import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFerryServe } from '../../support/ferry-serve.js';
import { expectRecordedRunsConsistent } from '../../support/published-state.js';
import { runFerry } from '../../support/run-ferry.js';
import { describeRun, expectCompleteMirror, KIB, makeKey, makeWorkDir, MIB, removeQuietly, serveSignedStream, walkFiles, type ServedStream } from '../mirror/helpers.js';

// The round trip the offline side relies on (issue 9 §6): a tree made by `ferry mirror`, served
// by `ferry serve`, is itself a source `ferry mirror` accepts with every signature and hash
// checked, and the second tree equals the first byte for byte.

afterEach(expectRecordedRunsConsistent);

let workDir: string;
let upstream: ServedStream;

beforeAll(async () => {
  workDir = await makeWorkDir('serve-roundtrip');
  upstream = await serveSignedStream(workDir, 'Serve round trip', {
    releases: ['jammy', 'noble'],
    arches: ['amd64', 'arm64'],
    versions: 2,
    payloadSizes: { squashfs: 1.5 * MIB + 3, 'boot-initrd': 96 * KIB, 'boot-kernel': 48 * KIB, manifest: 2 * KIB, 'root-tgz': 1 * MIB + 7, 'archive.tar.xz': 3 * KIB },
  });
});

afterAll(async () => {
  await upstream.server.close();
  await removeQuietly(workDir);
});

describe('ferry mirror → ferry serve → ferry mirror', () => {
  it('mirrors the served tree with every signature and hash checked into an identical tree', async () => {
    const treeA = join(workDir, 'a');
    const treeB = join(workDir, 'b');
    const first = await runFerry(['mirror', '--keyring', upstream.testKey.keyringFile, upstream.source, treeA]);
    expect(first.code, describeRun(first)).toBe(0);
    await expectCompleteMirror(treeA, upstream.stream.baseDir, upstream.listed);

    const served = await startFerryServe([treeA, '--port', '0']);
    let second;
    try {
      // The signed entry point: every metadata file is checked against the keyring, every item by size and sha256.
      expect(served.bootSourceUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      second = await runFerry(['mirror', '--keyring', upstream.testKey.keyringFile, served.bootSourceUrl, treeB]);
    } finally {
      const stopped = await served.stop();
      expect(stopped.code, stopped.stderr).toBe(0);
    }
    expect(second.code, describeRun(second)).toBe(0);
    expect(second.stderr + second.stdout).toMatch(/Verified \d+ signed metadata file/);
    await expectCompleteMirror(treeB, upstream.stream.baseDir, upstream.listed);

    const filesA = await walkFiles(treeA);
    expect(await walkFiles(treeB)).toEqual(filesA);
    for (const path of filesA) {
      const [a, b] = await Promise.all([readFile(join(treeA, path)), readFile(join(treeB, path))]);
      expect(a.equals(b), `${path} differs between the trees`).toBe(true);
    }
    // Content-id file names with ':' made the trip.
    expect(filesA.some((path) => path.includes('com.ubuntu.maas:stable:v3:download.sjson'))).toBe(true);
  });

  it('is refused by ferry mirror when the keyring does not hold the signer: the served metadata is really checked', async () => {
    const treeA = join(workDir, 'a');
    const otherDir = join(workDir, 'other');
    await mkdir(otherDir);
    const other = await makeKey(otherDir, 'Someone else');
    const served = await startFerryServe([treeA, '--port', '0']);
    try {
      const run = await runFerry(['mirror', '--keyring', other.keyringFile, served.bootSourceUrl, join(workDir, 'c')]);
      expect(run.code, describeRun(run)).toBe(3);
      expect(run.stderr).toContain('FERRY_SIG_UNKNOWN_KEY');
    } finally {
      await served.stop();
    }
  });
});

describe('ferry serve of a folder that is not a mirror tree', () => {
  it('refuses a library folder, naming it and saying to export first', async () => {
    const library = join(workDir, 'library');
    const sync = await runFerry(['sync', '--library', library, '--keyring', upstream.testKey.keyringFile, '--max', '1', upstream.source, 'release=noble', 'arch=amd64']);
    expect(sync.code, describeRun(sync)).toBe(0);
    const run = await runFerry(['serve', library, '--port', '0']);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('it is a Stream Ferry library, not a mirror tree');
    expect(run.stderr).toContain('ferry export --to DIR');
    expect(run.stderr).toContain('FERRY_SERVE_ROOT_INVALID');
  });

  it('refuses an empty folder instead of serving nothing', async () => {
    const empty = join(workDir, 'empty');
    await mkdir(empty);
    const run = await runFerry(['serve', empty, '--port', '0']);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain('holds no streams/v1/index.sjson or index.json');
    expect(run.stderr).toContain('FERRY_SERVE_ROOT_INVALID');
  });
});
