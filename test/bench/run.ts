// `npm run bench`: measures Stream Ferry against the targets in docs product.md, each against a
// baseline measured in the same run. Benchmarks report; they never fail on a number.
//   npm run bench -- [--json FILE] [--keep] [--only catalog|download|serve|startup|ui|export|import|serve-bundle] [--rounds N]
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { arch, cpus, platform, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { prepareBenchStream, startServerProcess } from './bench-stream.js';
import { runCatalogBenchmark } from './catalog.js';
import { Cleanup } from './cleanup.js';
import { runDownloadBenchmark } from './download.js';
import { bundleWorkDir, runExportBenchmark, runImportBenchmark, runServeBundleBenchmark } from './bundle.js';
import { note, printSection, renderSummary, type SummaryRow } from './report.js';
import { runRerunBenchmark } from './rerun.js';
import { runServeBenchmark } from './serve.js';
import { runStartupBenchmark } from './startup.js';
import { runUiBenchmark } from './ui.js';

const USAGE = `usage: npm run bench -- [options]
  --json FILE     also write the results as JSON to FILE
  --keep          keep the generated download stream in the temp dir; a later run reuses it
  --only NAME     run one group: catalog, download (the download rounds, then the rerun), serve
                  (ferry serve against nginx over the same stream), startup (ferry --version and
                  ferry help against node -e 0), ui (the app in Chromium), export (ferry export
                  with its read-back against cp -r + sync), import (ferry import against cp -r +
                  sync), or serve-bundle (ferry serve of a bundle against nginx over the imported tree)
  --rounds N      download rounds per tool, alternating ferry and plain, and ui rounds of the sync
                  through the app and of ferry sync (default 3, at least 2)
`;
const DEFAULT_ROUNDS = 3;
const GROUPS = ['catalog', 'download', 'serve', 'startup', 'ui', 'export', 'import', 'serve-bundle'] as const;
const BUNDLE_GROUPS: ReadonlySet<Group> = new Set(['export', 'import', 'serve-bundle']);
type Group = (typeof GROUPS)[number];

interface BenchOptions {
  jsonFile: string | undefined;
  keep: boolean;
  groups: ReadonlySet<Group>;
  rounds: number;
}

function readOptions(args: readonly string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: [...args],
    options: {
      json: { type: 'string' },
      keep: { type: 'boolean', default: false },
      only: { type: 'string' },
      rounds: { type: 'string', default: String(DEFAULT_ROUNDS) },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  const only = values.only;
  if (only !== undefined && !GROUPS.some((group) => group === only)) throw new Error(`--only takes ${GROUPS.join(' or ')}, not ${only}`);
  const rounds = Number(values.rounds);
  // One round per tool cannot separate a tool's speed from the order it ran in.
  if (!Number.isInteger(rounds) || rounds < 2) throw new Error(`--rounds must be a whole number of at least 2, not ${values.rounds}`);
  return {
    jsonFile: values.json === undefined ? undefined : resolve(values.json),
    keep: values.keep,
    groups: new Set(only === undefined ? GROUPS : GROUPS.filter((group) => group === only)),
    rounds,
  };
}

async function runBench(options: BenchOptions, cleanup: Cleanup): Promise<void> {
  const startedAt = new Date();
  const rows: SummaryRow[] = [];
  const benchmarks: Record<string, unknown> = {};

  if (options.groups.has('startup')) {
    const startup = runStartupBenchmark();
    rows.push(...startup.rows);
    benchmarks['startup'] = startup.details;
  }

  if (options.groups.has('catalog')) {
    note('catalog: generating the metadata of a ~2,500-product stream');
    const catalog = await runCatalogBenchmark(cleanup);
    rows.push(...catalog.rows);
    benchmarks['catalog'] = catalog.details;
  }

  // The download, serve and bundle groups share one generated stream.
  const wantsBundle = [...options.groups].some((group) => BUNDLE_GROUPS.has(group));
  const stream = options.groups.has('download') || options.groups.has('serve') || wantsBundle ? await prepareBenchStream(cleanup, options.keep) : undefined;
  if (stream !== undefined && options.groups.has('download')) {
    const workDir = await mkdtemp(join(tmpdir(), 'ferry-bench-'));
    cleanup.defer(() => rm(workDir, { recursive: true, force: true }));
    const server = await startServerProcess(stream.mirrorDir, cleanup);
    note(`serving the stream from a separate process at ${server.url}`);
    const download = await runDownloadBenchmark({ stream, server, workDir, rounds: options.rounds, cleanup });
    rows.push(...download.rows);
    benchmarks['download'] = download.details;
    const rerun = await runRerunBenchmark({ stream, server, workDir, cleanup });
    rows.push(...rerun.rows);
    benchmarks['rerun'] = rerun.details;
    await server.stop();
  }

  if (stream !== undefined && options.groups.has('serve')) {
    const serve = await runServeBenchmark(stream, options.rounds, cleanup);
    if (serve !== undefined) {
      rows.push(...serve.rows);
      benchmarks['serve'] = serve.details;
    }
  }

  if (options.groups.has('ui')) {
    const ui = await runUiBenchmark(options.rounds, cleanup);
    rows.push(...ui.rows);
    benchmarks['ui'] = ui.details;
  }

  if (stream !== undefined && wantsBundle) {
    const server = await startServerProcess(stream.mirrorDir, cleanup);
    const context = { stream, server, workDir: await bundleWorkDir(cleanup), rounds: options.rounds, cleanup };
    if (options.groups.has('export')) {
      const exported = await runExportBenchmark(context);
      rows.push(...exported.rows);
      benchmarks['export'] = exported.details;
    }
    if (options.groups.has('import')) {
      const imported = await runImportBenchmark(context);
      rows.push(...imported.rows);
      benchmarks['import'] = imported.details;
    }
    if (options.groups.has('serve-bundle')) {
      const served = await runServeBundleBenchmark(context);
      if (served !== undefined) {
        rows.push(...served.rows);
        benchmarks['serveBundle'] = served.details;
      }
    }
    await server.stop();
  }

  printSection('summary (ratio = measured / baseline; for export and import, plain copy time over ferry time)', renderSummary(rows));
  if (options.jsonFile !== undefined) {
    const cpuList = cpus();
    const report = {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: { node: process.version, platform: platform(), arch: arch(), cpus: cpuList.length, cpuModel: cpuList[0]?.model, totalMemoryBytes: totalmem() },
      summary: rows,
      benchmarks,
    };
    await mkdir(dirname(options.jsonFile), { recursive: true });
    await writeFile(options.jsonFile, `${JSON.stringify(report, null, 2)}\n`);
    note(`wrote ${options.jsonFile}`);
  }
}

async function main(): Promise<number> {
  let options: BenchOptions | undefined;
  try {
    options = readOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }
  if (options === undefined) {
    process.stdout.write(USAGE);
    return 0;
  }
  const cleanup = new Cleanup();
  const interruption = new AbortController();
  const stopOnSignal = (signal: NodeJS.Signals): void => {
    interruption.abort(signal);
    note(`${signal}: stopping child processes and removing scratch files`);
    void cleanup.run().finally(() => {
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    await runBench(options, cleanup);
    return 0;
  } catch (error) {
    // After a signal, the children it stopped fail their benchmark; that is not worth reporting.
    if (!interruption.signal.aborted) process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  } finally {
    await cleanup.run();
  }
}

process.exitCode = await main();
