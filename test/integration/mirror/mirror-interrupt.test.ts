import { access, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSigningKey } from '../../../src-main/pgp/index.js';
import { startFixtureServer, type FixtureServer } from '../../support/fixture-server.js';
import { collect, runFerry, spawnFerry } from '../../support/run-ferry.js';
import { generateStream, type GeneratedStream } from '../../support/stream-generator.js';
import { expectRecordedRunsConsistent } from '../../support/published-state.js';
import { partialNameOf } from './helpers.js';

// Issue 7 §1: after every test, each tree or library a run published into lists only files that are present.
afterEach(expectRecordedRunsConsistent);

const MIB = 1024 * 1024;

let workDir: string;
let keyringFile: string;
let stream: GeneratedStream;
let server: FixtureServer;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-interrupt-'));
  const key = await createSigningKey({ name: 'Interrupt test', email: 'interrupt@test.invalid' });
  keyringFile = join(workDir, 'keyring.gpg');
  await writeFile(keyringFile, key.publicKeyBinary);
  stream = await generateStream(join(workDir, 'stream'), {
    signingKey: key,
    contents: ['ubuntu'],
    releases: ['noble'],
    versions: 1,
    payloadSizes: { squashfs: 4 * MIB },
  });
  server = await startFixtureServer({ root: stream.baseDir });
});

afterAll(async () => {
  await server.close();
  await rm(workDir, { recursive: true, force: true });
});

describe('Ctrl-C during ferry mirror', () => {
  it('stops cleanly with status 130, leaves no partial file at a final path, and a rerun resumes', async () => {
    const squashfs = stream.files.find((file) => file.ftype === 'squashfs');
    if (squashfs === undefined) throw new Error('the generated stream has no squashfs');
    // Hold the squashfs half-sent, so the interrupt lands mid-download.
    server.setFaults((request) =>
      request.path.endsWith(squashfs.path) && request.attempt === 1 ? { kind: 'stall', afterBytes: 2 * MIB, ms: Infinity } : undefined,
    );
    const target = join(workDir, 'mirror');
    const args = ['mirror', '--keyring', keyringFile, `${server.url}streams/v1/index.sjson`, target];
    const child = spawnFerry(args);
    const finished = collect(child);
    await waitFor(() => server.bytesSentFor(squashfs.path) >= 2 * MIB);
    child.kill('SIGINT');
    const interrupted = await finished;

    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toContain('FERRY_CANCELLED');
    // The squashfs was mid-download: it must not be at its final path, and no metadata was written.
    await expect(access(join(target, squashfs.path))).rejects.toThrow();
    expect(await readdir(target)).not.toContain('streams');

    // What reached the disk before the interrupt is kept as a resumable partial.
    const kept = (await stat(join(target, '.ferry', 'tmp', 'partial', partialNameOf(squashfs)))).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(squashfs.size);

    server.setFaults(undefined);
    server.resetCounters();
    const rerun = await runFerry(args);
    expect(rerun.code, rerun.stderr).toBe(0);
    const resumed = server.requestLog.find((entry) => entry.path.endsWith(squashfs.path));
    expect(resumed?.range?.start).toBe(kept);
    expect(server.bytesSentFor(squashfs.path)).toBe(squashfs.size - kept);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the download to start');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
