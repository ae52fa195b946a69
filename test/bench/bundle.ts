import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnFerry } from '../support/run-ferry.js';
import type { BenchStream, ServerProcess } from './bench-stream.js';
import type { Cleanup } from './cleanup.js';
import { describeFailedRun, measureProcess, type MeasuredRun } from './measure-process.js';
import { MIB, median, note, printSection, type BenchmarkResult, type SummaryRow } from './report.js';
import { fetchAll, startFerryServe, startNginx, CLIENTS } from './serve.js';

// Issue 9 §7: the offline side against plain tools on the same bytes, in the same run.
// - export (with its read-back around the page cache) against `cp -r` of the library's blobs and `sync`;
// - import (verifying as it copies) against `cp -r` of the bundle's blobs and `sync`;
// - `ferry serve` of the bundle against nginx serving the imported tree, 4 parallel clients.
// Every ferry process's peak RSS (VmHWM) is reported beside the 200 MB target. Each tool writes a
// fresh directory per round; `sync` runs before every timed round so that neither inherits the
// other's write-back. Rounds alternate, medians are compared.

const RATIO_TARGET = 0.8;
const RSS_TARGET_BYTES = 200 * 1000 * 1000;

export interface BundleBenchContext {
  stream: BenchStream;
  server: ServerProcess;
  workDir: string;
  rounds: number;
  cleanup: Cleanup;
}

interface Prepared {
  library: string;
  /** A finished export of the whole stream: its bundle directory. */
  bundle: string;
  /** That bundle imported, for nginx to serve. */
  tree: string;
}

interface RoundTimes {
  ferryMs: number[];
  plainMs: number[];
  ferryPeakRssBytes: number[];
}

export interface ServeBundleDetails {
  ferryMs: number[];
  nginxMs: number[];
  ferryPeakRssBytes: number | undefined;
}

let prepared: Prepared | undefined;

/** The library, one bundle and its import, made once (untimed) for whichever groups run. */
async function prepare(context: BundleBenchContext): Promise<Prepared> {
  if (prepared !== undefined) return prepared;
  const library = join(context.workDir, 'library');
  const source = new URL(context.stream.indexPath, context.server.url).toString();
  note('bundle: syncing the stream into a library');
  await ferryOk('sync', ['sync', '--library', library, '--keyring', context.stream.keyringPath, source]);
  note('bundle: exporting it once, and importing that bundle once');
  // An export writes only into a folder that exists, as a mounted drive does.
  await mkdir(join(context.workDir, 'bundle'), { recursive: true });
  const exported = await ferryOk('export', exportArgs(library, join(context.workDir, 'bundle'), context));
  const bundle = exported.stdoutLines.at(-1)?.text ?? '';
  const tree = join(context.workDir, 'imported');
  await ferryOk('import', ['import', bundle, '--into', tree, '--keyring', context.stream.keyringPath]);
  prepared = { library, bundle, tree };
  return prepared;
}

function exportArgs(library: string, to: string, context: BundleBenchContext): string[] {
  return ['export', '--to', to, '--no-eject', '--library', library, '--keyring', context.stream.keyringPath, new URL(context.stream.indexPath, context.server.url).toString()];
}

async function ferryOk(what: string, args: readonly string[]): Promise<MeasuredRun> {
  const run = await measureProcess(spawnFerry(args));
  if (run.exitCode !== 0) throw describeFailedRun(`ferry ${what}`, run);
  return run;
}

/** `sh -c 'cp -r FROM TO && sync'`: the plain copy a careful operator would make. */
async function plainCopy(from: string, to: string): Promise<number> {
  const run = await measureProcess(spawn('sh', ['-c', 'cp -r "$1" "$2" && sync', 'sh', from, to], { stdio: ['ignore', 'pipe', 'pipe'] }));
  if (run.exitCode !== 0) throw describeFailedRun('cp -r + sync', run);
  return run.wallMs;
}

async function settle(): Promise<void> {
  await measureProcess(spawn('sync', [], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

async function alternate(
  context: BundleBenchContext,
  name: string,
  ferryRound: (dir: string) => Promise<MeasuredRun>,
  plainRound: (dir: string) => Promise<number>,
): Promise<RoundTimes> {
  const times: RoundTimes = { ferryMs: [], plainMs: [], ferryPeakRssBytes: [] };
  for (let round = 1; round <= context.rounds; round += 1) {
    const scratch = await mkdtemp(join(context.workDir, `${name}-`));
    await settle();
    const run = await ferryRound(join(scratch, 'ferry'));
    times.ferryMs.push(run.wallMs);
    if (run.peakRssBytes !== undefined) times.ferryPeakRssBytes.push(run.peakRssBytes);
    await settle();
    times.plainMs.push(await plainRound(join(scratch, 'plain')));
    note(`${name} round ${round}: ferry ${(run.wallMs / 1000).toFixed(2)} s, cp -r + sync ${((times.plainMs.at(-1) ?? 0) / 1000).toFixed(2)} s`);
    await rm(scratch, { recursive: true, force: true });
  }
  return times;
}

function copyRows(name: string, times: RoundTimes, totalBytes: number, ferryLabel: string): SummaryRow[] {
  // Throughput ratio: plain time over ferry time (1.0 = as fast as the plain copy).
  const ferryMs = median(times.ferryMs);
  const plainMs = median(times.plainMs);
  const ratio = plainMs / ferryMs;
  const peak = times.ferryPeakRssBytes.length === 0 ? undefined : Math.max(...times.ferryPeakRssBytes);
  const rows: SummaryRow[] = [
    {
      benchmark: `${name}: ${ferryLabel} (throughput vs plain)`,
      measured: { value: totalBytes / MIB / (ferryMs / 1000), unit: 'MiB/s' },
      baseline: { label: 'cp -r + sync', quantity: { value: totalBytes / MIB / (plainMs / 1000), unit: 'MiB/s' } },
      ratio,
      target: `>= ${RATIO_TARGET}`,
      met: ratio >= RATIO_TARGET,
    },
  ];
  if (peak !== undefined) rows.push(rssRow(`${name}: ferry peak RSS`, peak));
  return rows;
}

function rssRow(benchmark: string, peakBytes: number): SummaryRow {
  return { benchmark, measured: { value: peakBytes / MIB, unit: 'MiB' }, target: `< ${RSS_TARGET_BYTES / 1e6} MB`, met: peakBytes < RSS_TARGET_BYTES };
}

/** The blobs directory of a library or a bundle: what the plain copy copies. */
function blobsOf(dir: string): string {
  return join(dir, 'blobs');
}

export async function runExportBenchmark(context: BundleBenchContext): Promise<BenchmarkResult<RoundTimes>> {
  const { library } = await prepare(context);
  const times = await alternate(
    context,
    'export',
    async (dir) => {
      await mkdir(dir, { recursive: true });
      return ferryOk('export', exportArgs(library, dir, context));
    },
    (dir) => plainCopy(blobsOf(library), dir),
  );
  printTimes('export: ferry export (written, fsynced, read back around the cache) vs cp -r of the library blobs + sync', times, context.stream.totalBytes);
  return { rows: copyRows('export', times, context.stream.totalBytes, 'ferry export'), details: times };
}

export async function runImportBenchmark(context: BundleBenchContext): Promise<BenchmarkResult<RoundTimes>> {
  const { bundle } = await prepare(context);
  const times = await alternate(
    context,
    'import',
    (dir) => ferryOk('import', ['import', bundle, '--into', dir, '--keyring', context.stream.keyringPath]),
    (dir) => plainCopy(blobsOf(bundle), dir),
  );
  printTimes('import: ferry import (verified as copied, fsynced per file) vs cp -r of the bundle blobs + sync', times, context.stream.totalBytes);
  return { rows: copyRows('import', times, context.stream.totalBytes, 'ferry import'), details: times };
}

export async function runServeBundleBenchmark(context: BundleBenchContext): Promise<BenchmarkResult<ServeBundleDetails> | undefined> {
  const { bundle, tree } = await prepare(context);
  const ferry = await startFerryServe(bundle, context.cleanup);
  const nginx = await startNginx(tree, context.cleanup);
  if (nginx === undefined) {
    await ferry.stop();
    return undefined;
  }
  const files = (await treeFiles(tree)).filter((file) => !file.path.startsWith('.ferry/'));
  const paths = files.map((file) => file.path);
  const bytes = files.reduce((sum, file) => sum + file.size, 0);
  // Warm both once: the figure is the server's, not the first read from the disk.
  await fetchAll(ferry.url, paths, bytes);
  await fetchAll(nginx.url, paths, bytes);
  const ferryMs: number[] = [];
  const nginxMs: number[] = [];
  for (let round = 1; round <= context.rounds; round += 1) {
    ferryMs.push(await fetchAll(ferry.url, paths, bytes));
    nginxMs.push(await fetchAll(nginx.url, paths, bytes));
    note(`serve-bundle round ${round}: ferry ${mibps(bytes, ferryMs.at(-1) ?? 1).toFixed(0)} MiB/s, nginx ${mibps(bytes, nginxMs.at(-1) ?? 1).toFixed(0)} MiB/s`);
  }
  const ferryRun = await ferry.stop();
  await nginx.stop();
  const ratio = median(nginxMs) / median(ferryMs);
  printSection(
    `serve-bundle: ferry serve BUNDLE vs nginx over the imported tree, ${paths.length} files, ${CLIENTS} parallel clients`,
    `median: ferry serve ${mibps(bytes, median(ferryMs)).toFixed(0)} MiB/s, nginx ${mibps(bytes, median(nginxMs)).toFixed(0)} MiB/s, ratio ${ratio.toFixed(2)}\n` +
      `ferry serve peak RSS: ${ferryRun.peakRssBytes === undefined ? '-' : `${(ferryRun.peakRssBytes / MIB).toFixed(0)} MiB`}\n` +
      `note: ${bytes} bytes of items and metadata per round; nginx uses sendfile, ferry serve reads blobs (and parts) through user space.\n`,
  );
  const rows: SummaryRow[] = [
    {
      benchmark: `serve of a bundle, ${CLIENTS} clients`,
      measured: { value: mibps(bytes, median(ferryMs)), unit: 'MiB/s' },
      baseline: { label: 'nginx (tree)', quantity: { value: mibps(bytes, median(nginxMs)), unit: 'MiB/s' } },
      ratio,
      target: '(info)',
      met: undefined,
    },
  ];
  if (ferryRun.peakRssBytes !== undefined) rows.push(rssRow('serve of a bundle: ferry peak RSS', ferryRun.peakRssBytes));
  return { rows, details: { ferryMs, nginxMs, ferryPeakRssBytes: ferryRun.peakRssBytes } };
}

function mibps(bytes: number, ms: number): number {
  return bytes / MIB / (ms / 1000);
}

function printTimes(title: string, times: RoundTimes, totalBytes: number): void {
  const lines = times.ferryMs.map((ms, index) => `round ${index + 1}: ferry ${(ms / 1000).toFixed(2)} s, cp -r + sync ${((times.plainMs[index] ?? 0) / 1000).toFixed(2)} s`);
  const peak = times.ferryPeakRssBytes.length === 0 ? '-' : `${(Math.max(...times.ferryPeakRssBytes) / MIB).toFixed(0)} MiB`;
  printSection(title, `${lines.join('\n')}\n${(totalBytes / MIB).toFixed(0)} MiB per round; ratio ${(median(times.plainMs) / median(times.ferryMs)).toFixed(2)} (target >= ${RATIO_TARGET}); ferry peak RSS ${peak}\n`);
}

/** The regular files under `root`: paths relative to it, and sizes. */
async function treeFiles(root: string): Promise<Array<{ path: string; size: number }>> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
  return Promise.all(files.map(async (path) => ({ path: path.slice(root.length + 1), size: (await stat(path)).size })));
}

/** Scratch for the bundle groups, removed by the cleanup. */
export async function bundleWorkDir(cleanup: Cleanup): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-bundle-'));
  cleanup.defer(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
