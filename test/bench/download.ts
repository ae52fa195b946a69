import { execFile, spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { formatBytes, formatTable } from '../../src-main/cli/output.js';
import { spawnFerry } from '../support/run-ferry.js';
import type { BenchStream } from './bench-stream.js';
import type { Cleanup } from './cleanup.js';
import type { PlainFetchList } from './plain-fetch-main.js';
import { describeFailedRun, jsonLines, measureProcess } from './measure-process.js';
import { MIB, median, note, printSection, type BenchmarkResult } from './report.js';

// Product targets: "at least 0.9 of the throughput of a plain parallel fetch of the same bytes to
// disk without verification, measured in the same run" and "peak RSS under 200 MB while mirroring
// files of several GB". ferry runs as an operator runs it (bin/ferry.js, its own process, default
// settings); the baseline is plain-fetch-main.ts with ferry's default concurrency.

const THROUGHPUT_RATIO_TARGET = 0.9;
const PEAK_RSS_TARGET_BYTES = 200 * MIB;
/** ferry's defaults (engine/mirror-job.ts), which the baseline copies. */
const FERRY_DEFAULT_CONCURRENCY = 4;
const FERRY_DEFAULT_CONNECTIONS = 4;

export interface DownloadContext {
  stream: BenchStream;
  serverUrl: string;
  /** Scratch space on the same file system for every round's target. */
  workDir: string;
  /** Rounds of (ferry, plain). */
  rounds: number;
  cleanup: Cleanup;
}

export type Tool = 'ferry' | 'plain';

export interface DownloadRound {
  tool: Tool;
  round: number;
  /** ferry: plan event to the last file placed; plain: first request to the last file closed. */
  transferMs: number;
  /** Spawn to exit; for ferry this includes fetching and verifying the signed metadata. */
  commandMs: number;
  peakRssBytes: number | undefined;
  itemBytes: number;
}

export interface ToolSummary {
  medianTransferMs: number;
  medianThroughputMiBps: number;
  medianCommandMs: number;
  /** The largest of the rounds. */
  peakRssBytes: number | undefined;
}

export interface DownloadDetails {
  files: number;
  totalBytes: number;
  rounds: DownloadRound[];
  ferry: ToolSummary;
  plain: ToolSummary;
  throughputRatio: number;
  throughputRatioTarget: number;
  peakRssTargetBytes: number;
  notes: string[];
}

/** The mirror left by the last ferry round, for the rerun benchmark. */
export interface CompletedMirror {
  target: string;
  sourceUrl: string;
  keyringPath: string;
  /** Whole-command time of the run that built it. */
  fullRunCommandMs: number;
}

export async function runDownloadBenchmark(context: DownloadContext): Promise<BenchmarkResult<DownloadDetails> & { mirror: CompletedMirror }> {
  const { stream, workDir, cleanup } = context;
  const sourceUrl = `${context.serverUrl}${stream.indexPath}`;
  const rounds: DownloadRound[] = [];
  let fetchOrder: string[] | undefined;
  let mirror: CompletedMirror | undefined;

  for (let round = 1; round <= context.rounds; round += 1) {
    const ferryTarget = join(workDir, `ferry-${round}`);
    const ferry = await timeFerry(sourceUrl, stream, ferryTarget, cleanup);
    rounds.push({ tool: 'ferry', round, ...ferry.round });
    note(`round ${round}: ferry ${describeRound(ferry.round, stream.totalBytes)}`);
    fetchOrder ??= ferry.fetchOrder;
    if (mirror !== undefined) await rm(mirror.target, { recursive: true, force: true });
    // The newest ferry target stays for the rerun benchmark; the others go before the next round.
    mirror = { target: ferryTarget, sourceUrl, keyringPath: stream.keyringPath, fullRunCommandMs: ferry.round.commandMs };

    const plainTarget = join(workDir, `plain-${round}`);
    const plain = await timePlainFetch(context, fetchOrder, plainTarget);
    rounds.push({ tool: 'plain', round, ...plain });
    note(`round ${round}: plain ${describeRound(plain, stream.totalBytes)}`);
    await rm(plainTarget, { recursive: true, force: true });
  }
  if (mirror === undefined) throw new Error('the download benchmark needs at least one round');

  const ferry = summarize(rounds.filter((round) => round.tool === 'ferry'), stream.totalBytes);
  const plain = summarize(rounds.filter((round) => round.tool === 'plain'), stream.totalBytes);
  const throughputRatio = ferry.medianThroughputMiBps / plain.medianThroughputMiBps;
  const ferryRss = ferry.peakRssBytes;
  const notes = [
    'The page cache cannot be dropped without root: the served files are read from cache, and the written ones land in cache first.',
    'To spread that bias, rounds alternate ferry, plain, ferry, plain…; before each round the previous target is deleted and `sync` flushes dirty pages.',
    'Targets and the served stream are on the same file system. Neither tool fsyncs item data (ferry fsyncs directories after its renames).',
    'Throughput = item bytes / transfer time, measured by this process from the JSON lines each child prints.',
  ];

  printSection(
    `download: ${stream.files.length} files, ${formatBytes(stream.totalBytes)}, ${context.rounds} rounds each, concurrency ${FERRY_DEFAULT_CONCURRENCY}, from ${context.serverUrl}`,
    formatTable(
      ['round', 'tool', 'transfer', 'throughput', 'whole command', 'peak RSS'],
      rounds.map((round) => [
        String(round.round),
        round.tool,
        `${(round.transferMs / 1000).toFixed(2)} s`,
        `${throughputMiBps(stream.totalBytes, round.transferMs).toFixed(0)} MiB/s`,
        `${(round.commandMs / 1000).toFixed(2)} s`,
        formatRss(round.peakRssBytes),
      ]),
      new Set([2, 3, 4, 5]),
    ) +
      '\n' +
      formatTable(
        ['median', 'transfer', 'throughput', 'whole command', 'peak RSS (max)'],
        [
          ['ferry mirror', ...summaryCells(ferry)],
          ['plain fetch', ...summaryCells(plain)],
          ['ferry / plain', (ferry.medianTransferMs / plain.medianTransferMs).toFixed(2), throughputRatio.toFixed(2), (ferry.medianCommandMs / plain.medianCommandMs).toFixed(2), rssRatio(ferryRss, plain.peakRssBytes)],
        ],
        new Set([1, 2, 3, 4]),
      ) +
      `target: throughput ratio at least ${THROUGHPUT_RATIO_TARGET}: ${throughputRatio >= THROUGHPUT_RATIO_TARGET ? 'met' : 'NOT met'}\n` +
      `target: ferry peak RSS under ${PEAK_RSS_TARGET_BYTES / MIB} MiB: ${rssMet(ferryRss) ? 'met' : 'NOT met'}\n` +
      notes.map((text) => `note: ${text}\n`).join(''),
  );

  return {
    rows: [
      {
        benchmark: 'download throughput',
        measured: { value: ferry.medianThroughputMiBps, unit: 'MiB/s' },
        baseline: { label: 'plain fetch', quantity: { value: plain.medianThroughputMiBps, unit: 'MiB/s' } },
        ratio: throughputRatio,
        target: `ratio >= ${THROUGHPUT_RATIO_TARGET}`,
        met: throughputRatio >= THROUGHPUT_RATIO_TARGET,
      },
      {
        benchmark: 'download whole command',
        measured: { value: ferry.medianCommandMs / 1000, unit: 's' },
        baseline: { label: 'plain fetch', quantity: { value: plain.medianCommandMs / 1000, unit: 's' } },
        ratio: ferry.medianCommandMs / plain.medianCommandMs,
        target: '(info)',
        met: undefined,
      },
      {
        benchmark: 'download peak RSS',
        measured: { value: (ferryRss ?? Number.NaN) / MIB, unit: 'MiB' },
        baseline: { label: 'plain fetch', quantity: { value: (plain.peakRssBytes ?? Number.NaN) / MIB, unit: 'MiB' } },
        ...(ferryRss === undefined || plain.peakRssBytes === undefined ? {} : { ratio: ferryRss / plain.peakRssBytes }),
        target: `< ${PEAK_RSS_TARGET_BYTES / MIB} MiB`,
        met: rssMet(ferryRss),
      },
    ],
    details: {
      files: stream.files.length,
      totalBytes: stream.totalBytes,
      rounds,
      ferry,
      plain,
      throughputRatio,
      throughputRatioTarget: THROUGHPUT_RATIO_TARGET,
      peakRssTargetBytes: PEAK_RSS_TARGET_BYTES,
      notes,
    },
    mirror,
  };
}

type RoundFigures = Omit<DownloadRound, 'tool' | 'round'>;

async function timeFerry(
  sourceUrl: string,
  stream: BenchStream,
  target: string,
  cleanup: Cleanup,
): Promise<{ round: RoundFigures; fetchOrder: string[] }> {
  await settleDisk();
  const run = await measureProcess(cleanup.track(spawnFerry(['mirror', '--json', '--keyring', stream.keyringPath, sourceUrl, target])));
  if (run.exitCode !== 0) throw describeFailedRun('ferry mirror', run);
  const events = jsonLines(run.stdoutLines);
  const plan = events.find((event) => event.value['type'] === 'plan');
  const lastFetched = events.findLast((event) => event.value['type'] === 'file-done' && event.value['outcome'] === 'fetched');
  const result = events.find((event) => event.value['type'] === 'result')?.value;
  if (plan === undefined || lastFetched === undefined || result === undefined) throw describeFailedRun('ferry mirror (events missing)', run);
  if (result['filesFetched'] !== stream.files.length || result['bytesFetched'] !== stream.totalBytes) {
    throw new Error(`ferry fetched ${String(result['filesFetched'])} files, ${String(result['bytesFetched'])} bytes; expected ${stream.files.length}, ${stream.totalBytes}`);
  }
  return {
    round: { transferMs: lastFetched.atMs - plan.atMs, commandMs: run.wallMs, peakRssBytes: run.peakRssBytes, itemBytes: stream.totalBytes },
    fetchOrder: planOrder(plan.value, stream),
  };
}

/**
 * The order ferry fetches in (its plan's `+ product version item path N Mb` lines, each path once),
 * so the baseline's last files in flight are the same ones: with 4 lanes, the tail matters.
 */
function planOrder(planEvent: Record<string, unknown>, stream: BenchStream): string[] {
  const plan = planEvent['plan'] as { referenceLines: string[] };
  const order = [...new Set(plan.referenceLines.filter((line) => line.startsWith('+ ')).map((line) => line.split(' ')[4] ?? ''))];
  const expected = new Set(stream.files.map((file) => file.path));
  if (order.length !== expected.size || order.some((path) => !expected.has(path))) {
    throw new Error("ferry's plan does not list exactly the stream's files; cannot give the baseline the same order");
  }
  return order;
}

async function timePlainFetch(context: DownloadContext, paths: readonly string[], target: string): Promise<RoundFigures> {
  const list: PlainFetchList = {
    baseUrl: context.serverUrl,
    paths: [...paths],
    concurrency: FERRY_DEFAULT_CONCURRENCY,
    connections: FERRY_DEFAULT_CONNECTIONS,
  };
  const listFile = join(context.workDir, 'plain-fetch-list.json');
  await writeFile(listFile, JSON.stringify(list));
  await settleDisk();
  const script = join(import.meta.dirname, 'plain-fetch-main.js');
  const child = context.cleanup.track(spawn(process.execPath, [script, listFile, target], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const run = await measureProcess(child);
  if (run.exitCode !== 0) throw describeFailedRun('plain fetch', run);
  const events = jsonLines(run.stdoutLines);
  const start = events.find((event) => event.value['type'] === 'start');
  const done = events.find((event) => event.value['type'] === 'done');
  if (start === undefined || done === undefined) throw describeFailedRun('plain fetch (marks missing)', run);
  if (done.value['bytes'] !== context.stream.totalBytes) {
    throw new Error(`the plain fetch wrote ${String(done.value['bytes'])} bytes; expected ${context.stream.totalBytes}`);
  }
  return { transferMs: done.atMs - start.atMs, commandMs: run.wallMs, peakRssBytes: run.peakRssBytes, itemBytes: context.stream.totalBytes };
}

/** Writes back the dirty pages the previous round (or the generator) left, so no round pays for another's. */
async function settleDisk(): Promise<void> {
  await promisify(execFile)('sync');
}

function summarize(rounds: readonly DownloadRound[], totalBytes: number): ToolSummary {
  const peaks = rounds.map((round) => round.peakRssBytes).filter((peak) => peak !== undefined);
  const medianTransferMs = median(rounds.map((round) => round.transferMs));
  return {
    medianTransferMs,
    medianThroughputMiBps: throughputMiBps(totalBytes, medianTransferMs),
    medianCommandMs: median(rounds.map((round) => round.commandMs)),
    peakRssBytes: peaks.length === 0 ? undefined : Math.max(...peaks),
  };
}

function summaryCells(summary: ToolSummary): string[] {
  return [
    `${(summary.medianTransferMs / 1000).toFixed(2)} s`,
    `${summary.medianThroughputMiBps.toFixed(0)} MiB/s`,
    `${(summary.medianCommandMs / 1000).toFixed(2)} s`,
    formatRss(summary.peakRssBytes),
  ];
}

function throughputMiBps(bytes: number, ms: number): number {
  return bytes / MIB / (ms / 1000);
}

function describeRound(figures: RoundFigures, totalBytes: number): string {
  return `${throughputMiBps(totalBytes, figures.transferMs).toFixed(0)} MiB/s, whole command ${(figures.commandMs / 1000).toFixed(2)} s, peak RSS ${formatRss(figures.peakRssBytes)}`;
}

function formatRss(bytes: number | undefined): string {
  return bytes === undefined ? 'n/a' : `${(bytes / MIB).toFixed(1)} MiB`;
}

function rssRatio(ferry: number | undefined, plain: number | undefined): string {
  return ferry === undefined || plain === undefined ? '-' : (ferry / plain).toFixed(2);
}

function rssMet(peak: number | undefined): boolean {
  return peak !== undefined && peak < PEAK_RSS_TARGET_BYTES;
}
