import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FixtureServer } from '../../support/fixture-server.js';
import { collect, runFerry, spawnFerry } from '../../support/run-ferry.js';
import { makeWorkDir, removeQuietly, serveSignedStream } from '../mirror/helpers.js';

// Issue 11: `ferry query` as sstream-query (-o over items that lack a key, --pretty, its option
// spellings), and what the operator is told when nothing matches or a word is mistyped.

let workDir: string;
let keyringFile: string;
let server: FixtureServer;
let indexUrl: string;

beforeAll(async () => {
  workDir = await makeWorkDir('query-sstream');
  const served = await serveSignedStream(workDir, 'Query sstream test', { releases: ['jammy', 'noble'], arches: ['amd64'], versions: 1 });
  ({ server, source: indexUrl } = served);
  keyringFile = served.testKey.keyringFile;
});

afterAll(async () => {
  await server.close();
  await removeQuietly(workDir);
});

const query = (...args: string[]) => runFerry(['query', '--keyring', keyringFile, ...args]);

describe('ferry query as sstream-query', () => {
  it('-o prints the items that have every key, names each skipped one on stderr, and exits 0', async () => {
    // Bootloader items have no kflavor; Ubuntu images do.
    const run = await query('-o', '%(kflavor)s %(path)s', indexUrl, 'ftype~(squashfs|archive)');
    expect(run.code, run.stderr).toBe(0);
    const printed = run.stdout.trim().split('\n');
    expect(printed.length).toBeGreaterThan(0);
    for (const line of printed) expect(line).toMatch(/^generic \S+squashfs$/);
    const skipped = run.stderr.split('\n').filter((line) => line.startsWith('output format failed. Missing kflavor'));
    expect(skipped.length).toBeGreaterThan(0);
    // Each skipped item follows on its own line as Python prints the dict.
    expect(run.stderr.split('\n').filter((line) => line.startsWith("item: {'"))).toHaveLength(skipped.length);
  });

  it('--pretty prints each item as pprint does: sorted keys, one per line past 80 columns', async () => {
    const run = await query('--pretty', '--max', '1', indexUrl, 'release=noble', 'ftype=squashfs');
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\{'[a-z_]+': '[^']*',$/);
    expect(lines.at(-1)).toMatch(/^ '[a-z_]+': '[^']*'\}$/);
    const keys = lines.map((line) => /^[{ ]'([^']+)':/.exec(line)?.[1]).filter((key) => key !== undefined);
    expect(keys).toEqual([...keys].sort());
    expect(keys).toContain('item_url');
  });

  it('accepts -U and -v as sstream-query does', async () => {
    const run = await runFerry(['query', '-U', '-v', '-o', '%(path)s', indexUrl, 'release=noble', 'ftype=squashfs']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('NOT VERIFIED: --no-verify was given');
    expect(run.stderr).toContain('1 item(s) matched.');
  });

  it('reads a source ending in streams/v1/ as the mirror above it', async () => {
    const run = await query('-o', '%(path)s', `${server.url}streams/v1/`, 'release=noble', 'ftype=squashfs');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toMatch(/^noble\/.*squashfs$/);
  });

  it('reads a scheme-less host source as https and says so', async () => {
    const hostSource = `${server.url.replace('http://', '')}streams/v1/index.sjson`;
    const run = await query(hostSource, 'release=noble');
    expect(run.stderr).toContain(`Note: ${hostSource} is not a local path; reading https://${hostSource}`);
    // The fixture server speaks plain http, so the https attempt fails, and says where it went.
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`https://${server.url.replace('http://', '')}`);
  });
});

describe('when nothing matches', () => {
  it("maps MAAS's words to the stream's keys and still exits 0", async () => {
    const run = await query(indexUrl, 'releases=noble');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('Nothing matched the filters');
    expect(run.stderr).toContain("releases=noble: 'releases' is MAAS's word; this stream's images call it 'release' (e.g. release=noble).");
    // Only bootloaders list `arches`, so with an image filter it selects nothing.
    const arches = await query(indexUrl, 'arches=amd64', 'release=noble');
    expect(arches.code).toBe(0);
    expect(arches.stderr).toContain("arches=amd64: 'arches' is MAAS's word; this stream's images call it 'arch' (e.g. arch=amd64).");
    expect(arches.stderr).toContain('arches=amd64 --or release=noble');
  });

  it('names a key no item has with the nearest keys, and the nearest values of a known key', async () => {
    const run = await query(indexUrl, 'relase=noble');
    expect(run.stderr).toContain("relase=noble: no item has the key 'relase'. Did you mean release?");
    const value = await query(indexUrl, 'release=nobel');
    expect(value.code).toBe(0);
    expect(value.stderr).toContain("release=nobel: no item matches; existing values of 'release' include: noble.");
  });

  it('suggests one search filter for two values of one key, keeping the other filters, and no --or', async () => {
    const run = await query(indexUrl, 'arch=amd64', 'release=noble', 'release=jammy');
    expect(run.code).toBe(0);
    expect(run.stderr).toContain("release=noble release=jammy: an item has one value of 'release', so it cannot match all of them; for any of them, use one filter: arch=amd64 'release~^(noble|jammy)$'");
    expect(run.stderr).not.toContain('--or');
    // The suggestion, pasted back, selects images of both releases.
    const suggested = await query('-o', '%(release)s', indexUrl, 'arch=amd64', 'release~^(noble|jammy)$');
    expect(new Set(suggested.stdout.trim().split('\n'))).toEqual(new Set(['jammy', 'noble']));
  });

  it('suggests --or for filters on different keys that match apart but were ANDed', async () => {
    // Only bootloaders have `bootloader-type`; only images have `release`.
    const run = await query(indexUrl, 'bootloader-type=uefi', 'release=noble');
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('bootloader-type=uefi release=noble: each matches alone');
    expect(run.stderr).toContain('bootloader-type=uefi --or release=noble');
  });

  it("explains both of MAAS's words in arches=amd64 releases=noble", async () => {
    const run = await query(indexUrl, 'arches=amd64', 'releases=noble');
    expect(run.stderr).toContain("arches=amd64: 'arches' is MAAS's word; this stream's images call it 'arch' (e.g. arch=amd64).");
    expect(run.stderr).toContain("releases=noble: 'releases' is MAAS's word; this stream's images call it 'release' (e.g. release=noble).");
  });

  it('says nothing of the kind when items matched', async () => {
    const run = await query(indexUrl, 'release=noble');
    expect(run.stdout).not.toBe('');
    expect(run.stderr).not.toContain('Nothing matched');
  });
});

describe('typos and refused options', () => {
  it('suggests the nearest command and option, exit 2', async () => {
    const command = await runFerry(['qeury', 'stable']);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain("Unknown command 'qeury'. Did you mean query?");
    const option = await runFerry(['query', '--kering', keyringFile, indexUrl]);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("Unknown option '--kering'. Did you mean --keyring?");
  });

  it('suggests the preset a mistyped source was meant to be, exit 2', async () => {
    const run = await runFerry(['query', 'stabel', 'release=noble'], { cwd: workDir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("The source 'stabel' is neither a preset nor a local path. Did you mean stable?");
  });

  it("refuses sstream's --log-file with what to use instead, never 'unknown option'", async () => {
    const run = await query('--log-file', join(workDir, 'log'), indexUrl);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--log-file is not supported by ferry: ferry logs to stderr; use the shell instead: ferry ... 2>>FILE');
    expect(run.stderr).not.toMatch(/unknown option/i);
  });
});

describe('a reader that closes stdout early (issue: `ferry query … | head -1`)', () => {
  it('exits 0 without a stack trace when the pipe is gone before query prints', async () => {
    // The read end closes before query has fetched anything, so its first write meets EPIPE every
    // time (with `| head -1` it depended on timing: 3 of 5 runs crashed).
    const child = spawnFerry(['query', '--keyring', keyringFile, '-o', '%(path)s', indexUrl]);
    child.stdout?.destroy();
    const run = await collect(child);
    expect(run.stderr).not.toMatch(/EPIPE|Error:|at /);
    expect(run.code).toBe(0);
  });
});
