import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { formatBytes } from '../../src-main/base/format.js';
import { formatTable } from '../../src-main/cli/output.js';
import { JOB_DEFAULTS } from '../../src-main/engine/index.js';
import { spawnFerry } from '../support/run-ferry.js';
import type { BenchStream, ServerProcess } from './bench-stream.js';
import type { Cleanup } from './cleanup.js';
import { describeFailedRun, jsonLines, measureProcess, type MeasuredRun } from './measure-process.js';
import type { PlainFetchList } from './plain-fetch-main.js';
import { MIB, median, note, printSection, type BenchmarkResult } from './report.js';

// Product targets: "at least 0.9 of the throughput of a plain parallel fetch of the same bytes to
// disk without verification, measured in the same run" and "peak RSS under 200 MB while mirroring
// files of several GB". ferry runs as an operator runs it (bin/ferry.js, its own process, default
// settings); the baseline is plain-fetch-main.ts with ferry's default concurrency.

const THROUGHPUT_RATIO_TARGET = 0.9;
const PEAK_RSS_TARGET_BYTES = 200 * MIB;
/** ferry's defaults (engine/defaults.ts), which the baseline uses too. */
const FERRY_DEFAULT_CONCURRENCY = JOB_DEFAULTS.concurrency;
const FERRY_DEFAULT_CONNECTIONS = JOB_DEFAULTS.connectionsPerHost;

export interface DownloadContext {
  stream: BenchStream;
  server: ServerProcess;
  /** Scratch space on the same file system for every round's target. */
  workDir: string;
  /** Rounds of (ferry, plain, plain durable). */
  rounds: number;
  cleanup: Cleanup;
}

export type Tool = 'ferry' | 'plain' | 'plain-durable';

export interface DownloadRound {
  tool: Tool;
  round: number;
  /** ferry: plan event to the last file placed; plain: first request to the last file closed. */
  transferMs: number;
  /** Spawn to exit; for ferry this includes fetching and verifying the signed metadata. */
  commandMs: number;
  peakRssBytes: number | undefined;
  /** The whole client process, start-up included. */
  clientCpuSeconds: number | undefined;
  /** The server process while this round ran. */
  serverCpuSeconds: number | undefined;
}

export interface ToolSummary {
  medianTransferMs: number;
  medianThroughputMiBps: number;
  medianCommandMs: number;
  medianClientCpuSeconds: number | undefined;
  medianServerCpuSeconds: number | undefined;
  /** The largest of the rounds. */
  peakRssBytes: number | undefined;
}

export interface DownloadDetails {
  files: number;
  totalBytes: number;
  cores: number;
  rounds: DownloadRound[];
  ferry: ToolSummary;
  plain: ToolSummary;
  plainDurable: ToolSummary;
  throughputRatio: number;
  /** Against the plain fetch that also fsyncs every file: what verification alone costs. */
  durableThroughputRatio: number;
  throughputRatioTarget: number;
  peakRssTargetBytes: number;
  notes: string[];
}

type RoundFigures = Omit<DownloadRound, 'tool' | 'round'>;

export async function runDownloadBenchmark(context: DownloadContext): Promise<BenchmarkResult<DownloadDetails>> {
  const { stream, workDir } = context;
  const sourceUrl = `${context.server.url}${stream.indexPath}`;
  const cores = availableParallelism();

  // The first transfer after the stream is written runs measurably slower for either tool (fresh
  // memory pages, a cold allocator), so one untimed plain fetch goes first.
  note('warm-up: one untimed plain fetch');
  const warmUpTarget = join(workDir, 'warm-up');
  await timePlainFetch(context, stream.files.map((file) => file.path), warmUpTarget, false);
  await rm(warmUpTarget, { recursive: true, force: true });

  // Each target is deleted right after its round: on a VM, a round that needs more page cache
  // than the rounds before it pays for first-touching that memory, which would bias the order.
  const rounds: DownloadRound[] = [];
  let fetchOrder: string[] | undefined;
  for (let round = 1; round <= context.rounds; round += 1) {
    const ferryTarget = join(workDir, `ferry-${round}`);
    const ferry = await timeFerry(context, sourceUrl, ferryTarget);
    rounds.push({ tool: 'ferry', round, ...ferry.figures });
    note(`round ${round}: ferry ${describeRound(ferry.figures, stream.totalBytes)}`);
    fetchOrder ??= ferry.fetchOrder;
    await rm(ferryTarget, { recursive: true, force: true });

    const plainTarget = join(workDir, `plain-${round}`);
    const plain = await timePlainFetch(context, fetchOrder, plainTarget, false);
    rounds.push({ tool: 'plain', round, ...plain });
    note(`round ${round}: plain ${describeRound(plain, stream.totalBytes)}`);
    await rm(plainTarget, { recursive: true, force: true });

    const durableTarget = join(workDir, `plain-durable-${round}`);
    const durable = await timePlainFetch(context, fetchOrder, durableTarget, true);
    rounds.push({ tool: 'plain-durable', round, ...durable });
    note(`round ${round}: plain-durable ${describeRound(durable, stream.totalBytes)}`);
    await rm(durableTarget, { recursive: true, force: true });
  }

  const ferry = summarize(rounds.filter((round) => round.tool === 'ferry'), stream.totalBytes);
  const plain = summarize(rounds.filter((round) => round.tool === 'plain'), stream.totalBytes);
  const plainDurable = summarize(rounds.filter((round) => round.tool === 'plain-durable'), stream.totalBytes);
  const throughputRatio = ferry.medianThroughputMiBps / plain.medianThroughputMiBps;
  const durableThroughputRatio = ferry.medianThroughputMiBps / plainDurable.medianThroughputMiBps;
  const notes = [
    'The page cache is not dropped between rounds (that needs root): the served files are read from cache.',
    'To spread that bias, rounds alternate ferry, plain, plain-durable after an untimed warm-up; before each round the previous target is deleted and `sync` writes back dirty pages.',
    'Targets and the served stream are on the same file system. ferry writes around the page cache (O_DIRECT) where the file system allows it and fsyncs each file before renaming it into place (its durability promise); the plain fetch writes through the page cache and does no fsync, no hashing, no rename, so its bytes may still be only in memory when it ends. plain-durable is the same fetch with an fsync of each file.',
    'Throughput = item bytes / transfer time, both timed by this process from the JSON lines each child prints; whole command adds start-up and, for ferry, the signed metadata.',
    `CPU is user+system seconds: client for its whole run, server during the round. This machine has ${cores} cores shared by client, server and kernel, so a round cannot be shorter than (client + server CPU) / ${cores}.`,
  ];

  printSection(
    `download: ${stream.files.length} files, ${formatBytes(stream.totalBytes)}, ${context.rounds} rounds each, concurrency ${FERRY_DEFAULT_CONCURRENCY}, from ${context.server.url}`,
    formatTable(
      ['round', 'tool', 'transfer', 'throughput', 'whole command', 'peak RSS', 'CPU client', 'CPU server'],
      rounds.map((round) => [
        String(round.round),
        round.tool,
        formatSeconds(round.transferMs),
        `${throughputMiBps(stream.totalBytes, round.transferMs).toFixed(0)} MiB/s`,
        formatSeconds(round.commandMs),
        formatRss(round.peakRssBytes),
        formatCpu(round.clientCpuSeconds),
        formatCpu(round.serverCpuSeconds),
      ]),
      new Set([2, 3, 4, 5, 6, 7]),
    ) +
      '\n' +
      formatTable(
        ['median', 'transfer', 'throughput', 'whole command', 'peak RSS (max)', 'CPU client', 'CPU server'],
        [
          ['ferry mirror', ...summaryCells(ferry)],
          ['plain fetch', ...summaryCells(plain)],
          ['plain, durable', ...summaryCells(plainDurable)],
          ratioRow('ferry / plain', ferry, plain),
          ratioRow('ferry / durable', ferry, plainDurable),
        ],
        new Set([1, 2, 3, 4, 5, 6]),
      ) +
      `target: throughput ratio at least ${THROUGHPUT_RATIO_TARGET}: ${throughputRatio >= THROUGHPUT_RATIO_TARGET ? 'met' : 'NOT met'}\n` +
      `target: ferry peak RSS under ${PEAK_RSS_TARGET_BYTES / MIB} MiB: ${rssMet(ferry.peakRssBytes) ? 'met' : 'NOT met'}\n` +
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
        benchmark: 'download throughput, durable',
        measured: { value: ferry.medianThroughputMiBps, unit: 'MiB/s' },
        baseline: { label: 'plain fetch + fsync', quantity: { value: plainDurable.medianThroughputMiBps, unit: 'MiB/s' } },
        ratio: durableThroughputRatio,
        target: '(info)',
        met: undefined,
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
        measured: { value: (ferry.peakRssBytes ?? Number.NaN) / MIB, unit: 'MiB' },
        baseline: { label: 'plain fetch', quantity: { value: (plain.peakRssBytes ?? Number.NaN) / MIB, unit: 'MiB' } },
        ...(ferry.peakRssBytes === undefined || plain.peakRssBytes === undefined ? {} : { ratio: ferry.peakRssBytes / plain.peakRssBytes }),
        target: `< ${PEAK_RSS_TARGET_BYTES / MIB} MiB`,
        met: rssMet(ferry.peakRssBytes),
      },
    ],
    details: {
      files: stream.files.length,
      totalBytes: stream.totalBytes,
      cores,
      rounds,
      ferry,
      plain,
      plainDurable,
      throughputRatio,
      durableThroughputRatio,
      throughputRatioTarget: THROUGHPUT_RATIO_TARGET,
      peakRssTargetBytes: PEAK_RSS_TARGET_BYTES,
      notes,
    },
  };
}

async function timeFerry(context: DownloadContext, sourceUrl: string, target: string): Promise<{ figures: RoundFigures; fetchOrder: string[] }> {
  const { stream } = context;
  const { run, serverCpuSeconds } = await measureRound(context, () =>
    spawnFerry(['mirror', '--json', '--keyring', stream.keyringPath, sourceUrl, target]),
  );
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
    figures: {
      transferMs: lastFetched.atMs - plan.atMs,
      commandMs: run.wallMs,
      peakRssBytes: run.peakRssBytes,
      clientCpuSeconds: run.cpuSeconds,
      serverCpuSeconds,
    },
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

async function timePlainFetch(context: DownloadContext, paths: readonly string[], target: string, durable: boolean): Promise<RoundFigures> {
  const list: PlainFetchList = {
    baseUrl: context.server.url,
    paths: [...paths],
    concurrency: FERRY_DEFAULT_CONCURRENCY,
    connections: FERRY_DEFAULT_CONNECTIONS,
    durable,
  };
  const listFile = join(context.workDir, 'plain-fetch-list.json');
  await writeFile(listFile, JSON.stringify(list));
  const script = join(import.meta.dirname, 'plain-fetch-main.js');
  const { run, serverCpuSeconds } = await measureRound(context, () =>
    spawn(process.execPath, [script, listFile, target], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  if (run.exitCode !== 0) throw describeFailedRun('plain fetch', run);
  const events = jsonLines(run.stdoutLines);
  const start = events.find((event) => event.value['type'] === 'start');
  const done = events.find((event) => event.value['type'] === 'done');
  if (start === undefined || done === undefined) throw describeFailedRun('plain fetch (marks missing)', run);
  if (done.value['bytes'] !== context.stream.totalBytes) {
    throw new Error(`the plain fetch wrote ${String(done.value['bytes'])} bytes; expected ${context.stream.totalBytes}`);
  }
  return {
    transferMs: done.atMs - start.atMs,
    commandMs: run.wallMs,
    peakRssBytes: run.peakRssBytes,
    clientCpuSeconds: run.cpuSeconds,
    serverCpuSeconds,
  };
}

/** Settles the disk, then runs the client and charges it the server's CPU time meanwhile. */
async function measureRound(
  context: DownloadContext,
  start: () => ChildProcess,
): Promise<{ run: MeasuredRun; serverCpuSeconds: number | undefined }> {
  // Writes back the dirty pages the previous round (or the generator) left, so no round pays for another's.
  await promisify(execFile)('sync');
  const serverBefore = await context.server.cpuSeconds();
  const run = await measureProcess(context.cleanup.track(start()));
  const serverAfter = await context.server.cpuSeconds();
  return { run, serverCpuSeconds: serverBefore === undefined || serverAfter === undefined ? undefined : serverAfter - serverBefore };
}

function summarize(rounds: readonly DownloadRound[], totalBytes: number): ToolSummary {
  const medianTransferMs = median(rounds.map((round) => round.transferMs));
  const known = (values: ReadonlyArray<number | undefined>): number[] => values.filter((value) => value !== undefined);
  const clientCpu = known(rounds.map((round) => round.clientCpuSeconds));
  const serverCpu = known(rounds.map((round) => round.serverCpuSeconds));
  const peaks = known(rounds.map((round) => round.peakRssBytes));
  return {
    medianTransferMs,
    medianThroughputMiBps: throughputMiBps(totalBytes, medianTransferMs),
    medianCommandMs: median(rounds.map((round) => round.commandMs)),
    medianClientCpuSeconds: clientCpu.length === 0 ? undefined : median(clientCpu),
    medianServerCpuSeconds: serverCpu.length === 0 ? undefined : median(serverCpu),
    peakRssBytes: peaks.length === 0 ? undefined : Math.max(...peaks),
  };
}

function summaryCells(summary: ToolSummary): string[] {
  return [
    formatSeconds(summary.medianTransferMs),
    `${summary.medianThroughputMiBps.toFixed(0)} MiB/s`,
    formatSeconds(summary.medianCommandMs),
    formatRss(summary.peakRssBytes),
    formatCpu(summary.medianClientCpuSeconds),
    formatCpu(summary.medianServerCpuSeconds),
  ];
}

function throughputMiBps(bytes: number, ms: number): number {
  return bytes / MIB / (ms / 1000);
}

function describeRound(figures: RoundFigures, totalBytes: number): string {
  return (
    `${throughputMiBps(totalBytes, figures.transferMs).toFixed(0)} MiB/s, whole command ${formatSeconds(figures.commandMs)}, ` +
    `peak RSS ${formatRss(figures.peakRssBytes)}, CPU ${formatCpu(figures.clientCpuSeconds)} (+ server ${formatCpu(figures.serverCpuSeconds)})`
  );
}

function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function formatRss(bytes: number | undefined): string {
  return bytes === undefined ? 'n/a' : `${(bytes / MIB).toFixed(1)} MiB`;
}

function formatCpu(seconds: number | undefined): string {
  return seconds === undefined ? 'n/a' : `${seconds.toFixed(2)} s`;
}

/** One "ferry / baseline" row of the median table. */
function ratioRow(label: string, ferry: ToolSummary, baseline: ToolSummary): string[] {
  return [
    label,
    (ferry.medianTransferMs / baseline.medianTransferMs).toFixed(2),
    (ferry.medianThroughputMiBps / baseline.medianThroughputMiBps).toFixed(2),
    (ferry.medianCommandMs / baseline.medianCommandMs).toFixed(2),
    formatOptionalRatio(ferry.peakRssBytes, baseline.peakRssBytes),
    formatOptionalRatio(ferry.medianClientCpuSeconds, baseline.medianClientCpuSeconds),
    formatOptionalRatio(ferry.medianServerCpuSeconds, baseline.medianServerCpuSeconds),
  ];
}

function formatOptionalRatio(ferry: number | undefined, plain: number | undefined): string {
  return ferry === undefined || plain === undefined ? '-' : (ferry / plain).toFixed(2);
}

function rssMet(peak: number | undefined): boolean {
  return peak !== undefined && peak < PEAK_RSS_TARGET_BYTES;
}
