import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureServer, type FaultAction, type FixtureServer } from '../../support/fixture-server.js';
import { collect, runFerry, spawnFerry, type FerryRun } from '../../support/run-ferry.js';
import { generateStream, type GeneratedStream } from '../../support/stream-generator.js';
import { makeKey, makeWorkDir } from './helpers.js';

// Every wait of `ferry mirror` is bounded and says what it waited for (issue 7 §4), and messages name
// the real cause (§7: compressed metadata). The CLI runs as a subprocess with --stall-timeout 1 and
// --retries 1, so each hostile server costs at most two one-second attempts.

const STALL_ARGS = ['--stall-timeout', '1', '--retries', '1'];
/** Two attempts of 1 s, a backoff of at most 0.5 s, start-up and slack on a shared 2-core machine. */
const BOUND_MS = 8_000;
const INDEX = 'streams/v1/index.sjson';

let workDir: string;
let keyringFile: string;
let stream: GeneratedStream;
let server: FixtureServer;
let productsPath: string;

beforeAll(async () => {
  workDir = await makeWorkDir('waits');
  const key = await makeKey(workDir, 'Waits test');
  keyringFile = key.keyringFile;
  stream = await generateStream(join(workDir, 'stream'), { signingKey: key.key, contents: ['bootloaders'], versions: 1 });
  server = await startFixtureServer({ root: stream.baseDir });
  const index = JSON.parse(await readFile(join(stream.baseDir, 'streams/v1/index.json'), 'utf8')) as { index: Record<string, { path: string }> };
  const [entry] = Object.values(index.index);
  if (entry === undefined) throw new Error('the generated index lists no products file');
  productsPath = entry.path.replace(/\.json$/, '.sjson');
});

afterAll(async () => {
  await server.close();
  await rm(workDir, { recursive: true, force: true });
});

let runs = 0;
async function mirror(extraArgs: readonly string[] = [], source = `${server.url}${INDEX}`): Promise<FerryRun & { elapsedMs: number; target: string }> {
  runs += 1;
  const target = join(workDir, `mirror-${runs}`);
  const started = performance.now();
  const run = await runFerry(['mirror', '--keyring', keyringFile, ...extraArgs, source, target], { timeoutMs: 60_000 });
  return { ...run, elapsedMs: performance.now() - started, target };
}

function faultOn(path: string, action: FaultAction): void {
  server.resetCounters();
  server.setFaults((request) => (request.path === path ? action : undefined));
}

describe('every wait is bounded and says what it waits for', () => {
  const cases: Array<{ name: string; path: () => string; action: FaultAction; waited: string }> = [
    { name: 'metadata headers sent, then nothing', path: () => INDEX, action: { kind: 'stall', afterBytes: 0, ms: Infinity }, waited: 'no data for 1 s (waited for the body, after 0 bytes)' },
    { name: 'metadata body stalls halfway', path: () => productsPath, action: { kind: 'stall', afterBytes: 100, ms: Infinity }, waited: 'no data for 1 s (waited for the body, after 100 bytes)' },
    { name: 'no response headers ever', path: () => INDEX, action: { kind: 'silent', ms: Infinity }, waited: 'no answer within 1 s (waited for the connection and the response headers)' },
    { name: 'a slow drip of metadata', path: () => productsPath, action: { kind: 'drip', intervalMs: 50 }, waited: 'only ' },
  ];
  for (const { name, path, action, waited } of cases) {
    it(`${name}: the run ends within the bound, naming the URL and what it waited for`, async () => {
      faultOn(path(), action);
      const run = await mirror(STALL_ARGS);
      server.setFaults(undefined);

      expect(run.code, run.stderr).toBe(1);
      expect(run.elapsedMs).toBeLessThan(BOUND_MS);
      expect(run.stderr).toContain(`ferry: ${server.url}${path()}: ${waited}`);
      if (action.kind === 'drip') expect(run.stderr).toMatch(/only \d+ bytes in 1(\.\d)? s, slower than 1024 bytes\/s \(after \d+ bytes\)/);
      expect(run.stderr).toContain('(after 2 attempts)');
      expect(run.stderr).toContain('FERRY_DOWNLOAD_STALLED');
      // The retry was said while it happened, not only at the end.
      expect(run.stderr).toMatch(/Waiting [\d.]+ s then attempt 2 of 2: /);
      expect(server.requestsFor(path())).toBe(2);
    });
  }

  it('a server that accepts the connection and says nothing: bounded too', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const run = await mirror(STALL_ARGS, `http://127.0.0.1:${port}/${INDEX}`);
      expect(run.code, run.stderr).toBe(1);
      expect(run.elapsedMs).toBeLessThan(BOUND_MS);
      expect(run.stderr).toContain(`http://127.0.0.1:${port}/${INDEX}: no answer within 1 s (waited for the connection and the response headers)`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => { resolve(); }));
    }
  });

  it('an item download that stalls is bounded by the same option and names its byte position', async () => {
    const [item] = stream.files;
    if (item === undefined) throw new Error('no item files');
    faultOn(item.path, { kind: 'stall', afterBytes: 10, ms: Infinity });
    const run = await mirror(STALL_ARGS);
    server.setFaults(undefined);
    expect(run.code, run.stderr).toBe(1);
    expect(run.elapsedMs).toBeLessThan(BOUND_MS);
    expect(run.stderr).toContain(`no data for 1 s (waited for the body, at byte 10 of ${item.size})`);
  });
});

describe('retries and Retry-After waits are visible', () => {
  it('a 503 with Retry-After: 2 on metadata prints a line saying it waits 2 s and why, then succeeds', async () => {
    server.resetCounters();
    server.setFaults((request) =>
      request.path === productsPath && request.attempt === 1 ? { kind: 'status', status: 503, headers: { 'retry-after': '2' } } : undefined,
    );
    const run = await mirror();
    server.setFaults(undefined);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(
      `Waiting 2 s, as the server asked (Retry-After), then attempt 2 of 5: ${server.url}${productsPath}: the server answered HTTP 503`,
    );
    expect(run.elapsedMs).toBeGreaterThanOrEqual(2_000);
  });

  it('with --json, an item retry is a retry event on stdout', async () => {
    const [item] = stream.files;
    if (item === undefined) throw new Error('no item files');
    server.resetCounters();
    server.setFaults((request) => (request.path === item.path && request.attempt === 1 ? { kind: 'status', status: 503, headers: { 'retry-after': '1' } } : undefined));
    const run = await mirror(['--json']);
    server.setFaults(undefined);
    expect(run.code, run.stderr).toBe(0);
    const events = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const retry = events.find((event) => event['type'] === 'retry');
    expect(retry).toMatchObject({ url: `${server.url}${item.path}`, attempt: 1, maxAttempts: 5, delayMs: 1000, retryAfter: true, cause: { code: 'FERRY_HTTP_STATUS', status: 503 } });
  });
});

describe('compressed answers', () => {
  for (const encoding of ['gzip', 'deflate', 'br'] as const) {
    it(`metadata served with Content-Encoding: ${encoding} is decoded, verified and written as published`, async () => {
      server.resetCounters();
      server.setFaults((request) => (request.path.startsWith('streams/v1/') ? { kind: 'encode', encoding } : undefined));
      const run = await mirror();
      server.setFaults(undefined);
      expect(run.code, run.stderr).toBe(0);
      expect(server.requestLog.filter((entry) => entry.fault === 'encode').length).toBe(2);
      for (const path of [INDEX, productsPath]) {
        expect((await readFile(join(run.target, path))).equals(await readFile(join(stream.baseDir, path)))).toBe(true);
      }
    });
  }

  it('an item compressed although identity was asked for is refused, naming the encoding', async () => {
    const [item] = stream.files;
    if (item === undefined) throw new Error('no item files');
    faultOn(item.path, { kind: 'encode', encoding: 'gzip' });
    const run = await mirror();
    server.setFaults(undefined);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain(`${server.url}${item.path}: the server compressed the file (Content-Encoding: gzip) although Stream Ferry asked for it uncompressed`);
    expect(server.requestLog.find((entry) => entry.path === item.path)).toBeDefined();
  });
});

describe('signals', () => {
  it('SIGTERM is reported as SIGTERM with status 143; the job stops', async () => {
    const [item] = stream.files;
    if (item === undefined) throw new Error('no item files');
    faultOn(item.path, { kind: 'stall', afterBytes: 10, ms: Infinity });
    const child = spawnFerry(['mirror', '--keyring', keyringFile, `${server.url}${INDEX}`, join(workDir, 'sigterm')]);
    const finished = collect(child);
    await waitFor(() => server.bytesSentFor(item.path) >= 10);
    const sent = performance.now();
    child.kill('SIGTERM');
    const run = await finished;
    server.setFaults(undefined);
    expect(run.code, run.stderr).toBe(143);
    expect(performance.now() - sent).toBeLessThan(2_000);
    expect(run.stderr).toContain('SIGTERM: stopping after the current writes');
    expect(run.stderr).toContain('ferry: Stopped by SIGTERM.');
    expect(run.stderr).not.toContain('Ctrl-C');
  });
});

describe('signals during the load of a large stream', () => {
  let big: GeneratedStream;
  let bigServer: FixtureServer;
  let bigKeyring: string;

  beforeAll(async () => {
    const key = await makeKey(await makeWorkDir('waits-key'), 'Large stream');
    bigKeyring = join(workDir, 'big-keyring.gpg');
    await writeFile(bigKeyring, key.key.publicKeyBinary);
    big = await generateStream(join(workDir, 'big'), {
      signingKey: key.key,
      contents: ['ubuntu'],
      releases: ['focal', 'jammy', 'noble'],
      arches: ['amd64', 'arm64', 'ppc64el', 's390x'],
      kernels: 40,
      versions: 8,
      payloads: 'none',
    });
    bigServer = await startFixtureServer({ root: big.baseDir });
  });

  afterAll(async () => {
    await bigServer.close();
  });

  it('SIGTERM once the large products file has arrived (while it is verified and parsed) ends the process promptly', async () => {
    const productsFile = big.metadataFiles.find((file) => file.endsWith('.sjson') && !file.endsWith('index.sjson'));
    if (productsFile === undefined) throw new Error('no products file');
    const child = spawnFerry(['mirror', '--keyring', bigKeyring, `${bigServer.url}${INDEX}`, join(workDir, 'big-mirror')]);
    const finished = collect(child);
    await waitFor(() => bigServer.requestLog.some((entry) => entry.path === productsFile && entry.bytesSent > 0));
    const sent = performance.now();
    child.kill('SIGTERM');
    const run = await finished;
    const latencyMs = performance.now() - sent;
    process.stdout.write(`SIGTERM to exit during the load of a ${big.metadataFiles.length}-file stream: ${Math.round(latencyMs)} ms\n`);
    expect(run.code, run.stderr).toBe(143);
    expect(run.stderr).toContain('Stopped by SIGTERM.');
    expect(latencyMs).toBeLessThan(2_000);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the condition');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
