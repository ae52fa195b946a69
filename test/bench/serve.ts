import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { formatBytes } from '../../src-main/base/format.js';
import { formatTable } from '../../src-main/cli/output.js';
import { spawnFerry } from '../support/run-ferry.js';
import type { BenchStream } from './bench-stream.js';
import type { Cleanup } from './cleanup.js';
import { measureProcess, readCpuSeconds, type MeasuredRun } from './measure-process.js';
import { MIB, median, note, printSection, type BenchmarkResult } from './report.js';

// Issue 9 §7: `ferry serve` throughput with 4 parallel clients, against nginx serving the same
// tree in the same run (nginx-light from Debian, started here with a temporary configuration and
// prefix on 127.0.0.1, never a system configuration). The clients are 4 curl lanes sharing one
// list of the stream's files, bodies dropped, so the figure is the server's.

export const CLIENTS = 4;
const execFileAsync = promisify(execFile);
const START_TIMEOUT_MS = 20_000;
const NGINX_BINARY = '/usr/sbin/nginx';

export interface ServeDetails {
  files: number;
  totalBytes: number;
  clients: number;
  rounds: Array<{ server: 'ferry' | 'nginx'; round: number; transferMs: number; serverCpuSeconds: number | undefined }>;
  ferryMedianMiBps: number;
  nginxMedianMiBps: number;
  ratio: number;
  ferryPeakRssBytes: number | undefined;
  notes: string[];
}

interface RunningServer {
  url: string;
  pid: number | undefined;
  /** Stops it and reports what it used. */
  stop(): Promise<MeasuredRun>;
}

export async function runServeBenchmark(stream: BenchStream, rounds: number, cleanup: Cleanup): Promise<BenchmarkResult<ServeDetails> | undefined> {
  const ferry = await startFerryServe(stream.mirrorDir, cleanup);
  const nginx = await startNginx(stream.mirrorDir, cleanup);
  if (nginx === undefined) {
    await ferry.stop();
    return undefined;
  }
  note(`serve: ferry serve at ${ferry.url}, nginx at ${nginx.url}`);
  const paths = stream.files.map((file) => file.path);
  // One untimed pass each: the first read of the files after generation is not what is measured.
  await fetchAll(ferry.url, paths, stream.totalBytes);
  await fetchAll(nginx.url, paths, stream.totalBytes);
  const measured: ServeDetails['rounds'] = [];
  for (let round = 1; round <= rounds; round += 1) {
    for (const [name, server] of [['ferry', ferry], ['nginx', nginx]] as const) {
      const cpuBefore = server.pid === undefined ? undefined : await readCpuSeconds(server.pid);
      const transferMs = await fetchAll(server.url, paths, stream.totalBytes);
      const cpuAfter = server.pid === undefined ? undefined : await readCpuSeconds(server.pid);
      measured.push({ server: name, round, transferMs, serverCpuSeconds: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore });
      note(`serve round ${round}: ${name} ${(throughput(stream.totalBytes, transferMs)).toFixed(0)} MiB/s`);
    }
  }
  const ferryRun = await ferry.stop();
  await nginx.stop();
  const mibps = (server: 'ferry' | 'nginx'): number => throughput(stream.totalBytes, median(measured.filter((entry) => entry.server === server).map((entry) => entry.transferMs)));
  const ferryMedianMiBps = mibps('ferry');
  const nginxMedianMiBps = mibps('nginx');
  const ratio = ferryMedianMiBps / nginxMedianMiBps;
  const notes = [
    'Both servers read the same files from the page cache (the stream was read once by each before timing).',
    'nginx runs as one process (master_process off) with sendfile on, its default on Linux; ferry serve copies through user space (Node streams, 1 MiB reads).',
    `The clients are ${CLIENTS} lanes of curl (one process and connection per file, body to /dev/null) on 127.0.0.1. The machine's ${availableParallelism()} cores are shared by clients and server.`,
  ];
  printSection(
    `serve: ${stream.files.length} files, ${formatBytes(stream.totalBytes)}, ${CLIENTS} parallel clients, ${rounds} rounds each`,
    formatTable(
      ['round', 'server', 'transfer', 'throughput', 'CPU server'],
      measured.map((entry) => [
        String(entry.round),
        entry.server,
        `${(entry.transferMs / 1000).toFixed(2)} s`,
        `${throughput(stream.totalBytes, entry.transferMs).toFixed(0)} MiB/s`,
        entry.serverCpuSeconds === undefined ? '-' : `${entry.serverCpuSeconds.toFixed(2)} s`,
      ]),
      new Set([2, 3, 4]),
    ) +
      `median: ferry serve ${ferryMedianMiBps.toFixed(0)} MiB/s, nginx ${nginxMedianMiBps.toFixed(0)} MiB/s, ratio ${ratio.toFixed(2)}\n` +
      `ferry serve peak RSS: ${ferryRun.peakRssBytes === undefined ? '-' : `${(ferryRun.peakRssBytes / MIB).toFixed(0)} MiB`}\n` +
      notes.map((text) => `note: ${text}\n`).join(''),
  );
  return {
    rows: [
      {
        benchmark: `serve throughput, ${CLIENTS} clients`,
        measured: { value: ferryMedianMiBps, unit: 'MiB/s' },
        baseline: { label: 'nginx', quantity: { value: nginxMedianMiBps, unit: 'MiB/s' } },
        ratio,
        target: '(info)',
        met: undefined,
      },
    ],
    details: { files: stream.files.length, totalBytes: stream.totalBytes, clients: CLIENTS, rounds: measured, ferryMedianMiBps, nginxMedianMiBps, ratio, ferryPeakRssBytes: ferryRun.peakRssBytes, notes },
  };
}

function throughput(bytes: number, ms: number): number {
  return bytes / MIB / (ms / 1000);
}

/**
 * Fetches every path once with CLIENTS curl processes taking files from one shared list; returns
 * the milliseconds taken. curl (C, one process per transfer, body to /dev/null) is used rather
 * than a Node client in this process, which saturated one core at ~200 MiB/s and measured itself.
 */
export async function fetchAll(baseUrl: string, paths: readonly string[], expectedBytes: number): Promise<number> {
  const queue = paths.values();
  let bytes = 0;
  const lane = async (): Promise<void> => {
    for (const path of queue) {
      const { stdout } = await execFileAsync('curl', ['--silent', '--show-error', '--fail', '--output', '/dev/null', '--write-out', '%{size_download}', new URL(path, baseUrl).toString()]);
      bytes += Number(stdout);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, lane));
  const elapsed = performance.now() - started;
  if (bytes !== expectedBytes) throw new Error(`${baseUrl}: received ${bytes} bytes, expected ${expectedBytes}`);
  return elapsed;
}

export async function startFerryServe(dir: string, cleanup: Cleanup): Promise<RunningServer> {
  const child = cleanup.track(spawnFerry(['serve', dir, '--port', '0']));
  // The access log goes to stderr; measureProcess drains it.
  const finished = measureProcess(child);
  const url = await firstLine(child);
  return { url: url.replace(/streams\/v1\/index\.s?json$/, ''), pid: child.pid, stop: () => stopChild(child, finished) };
}

/** nginx-light from Debian with a throw-away prefix; undefined (with a note) when it is not installed. */
export async function startNginx(dir: string, cleanup: Cleanup): Promise<RunningServer | undefined> {
  const installed = await readFile(NGINX_BINARY).then(
    () => true,
    () => false,
  );
  if (!installed) {
    note(`serve: ${NGINX_BINARY} is not installed (Debian package nginx-light); the serve benchmark is left out`);
    return undefined;
  }
  const prefix = await mkdtemp(join(tmpdir(), 'ferry-bench-nginx-'));
  cleanup.defer(() => rm(prefix, { recursive: true, force: true }));
  await mkdir(join(prefix, 'logs'));
  const port = await freePort();
  const config = [
    'daemon off;',
    'master_process off;',
    `pid ${join(prefix, 'nginx.pid')};`,
    `error_log ${join(prefix, 'logs/error.log')} warn;`,
    'events { worker_connections 256; }',
    'http {',
    '  access_log off;',
    '  sendfile on;',
    '  default_type application/octet-stream;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${join(prefix, kind)};`),
    `  server { listen 127.0.0.1:${port}; root ${dir}; autoindex off; }`,
    '}',
    '',
  ].join('\n');
  const configFile = join(prefix, 'nginx.conf');
  await writeFile(configFile, config);
  const child = cleanup.track(spawn(NGINX_BINARY, ['-p', prefix, '-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const finished = measureProcess(child);
  await waitForPort(port, finished);
  return { url: `http://127.0.0.1:${port}/`, pid: child.pid, stop: () => stopChild(child, finished) };
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolveLine, rejectLine) => {
    const timer = setTimeout(() => {
      rejectLine(new Error(`ferry serve printed nothing within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    child.once('exit', (code) => {
      rejectLine(new Error(`ferry serve exited with ${String(code)} before serving`));
    });
    if (child.stdout === null) throw new Error('ferry serve has no stdout');
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolveLine(line);
    });
  });
}

async function stopChild(child: ChildProcess, finished: Promise<MeasuredRun>): Promise<MeasuredRun> {
  child.kill('SIGTERM');
  return finished;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolveListening) => server.listen(0, '127.0.0.1', () => { resolveListening(); }));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolveClosed) => server.close(resolveClosed));
  return port;
}

async function waitForPort(port: number, exited: Promise<MeasuredRun>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  const child = { gone: false };
  void exited.then(() => (child.gone = true));
  while (Date.now() < deadline && !child.gone) {
    const open = await new Promise<boolean>((resolveTry) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolveTry(true);
      });
      socket.once('error', () => { resolveTry(false); });
    });
    if (open) return;
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
  }
  const run = child.gone ? await exited : undefined;
  throw new Error(`nginx did not listen on 127.0.0.1:${port}${run === undefined ? '' : `: exited with ${String(run.exitCode)}\n${run.stderr}`}`);
}
