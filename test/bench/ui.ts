import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from '@playwright/test';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { build, preview } from 'vite';
import { formatTable } from '../../src-main/cli/output.js';
import { launchChromium } from '../e2e/browser.js';
import { startFerryUi } from '../e2e/ferry-ui.js';
import { findRepoRoot } from '../support/repo-root.js';
import type { Cleanup } from './cleanup.js';
import { MIB, median, note, printSection, type BenchmarkResult } from './report.js';
import { runUiSyncBenchmark, type UiSyncDetails } from './ui-sync.js';

// Issue 10 §5: the catalog screen's table with 25,000 rows in Chromium, windowed (the app's
// VirtualList) against the same rows as one plain <table>, in the same run and the same browser:
// time to the first painted frame, a scroll of the whole table four screenfuls at a time, each
// step waiting for the frame that shows it, and a filter typed into the Find box (and cleared) to
// the painted table. Then browser mode at rest, and a sync through the app
// against `ferry sync` (ui-sync.ts).

const ROWS = 25_000;
const ROUNDS = 2;
const VIEWPORT = { width: 1280, height: 800 };
const REPO_ROOT = findRepoRoot(import.meta.dirname);

type TableKind = 'windowed' | 'plain';

interface TableRun {
  renderMs: number;
  rowsInDom: number;
  scrollMs: number;
  steps: number;
  longestFrameMs: number;
  /** Typing FILTER_TEXT into the Find box to the painted, filtered table; then clearing it to all rows painted again. */
  filterMs: number;
  clearMs: number;
}

/** Matches 1,111 of the 25,000 rows (boot:12, boot:120-129, boot:1200-1299, boot:12000-12999). */
const FILTER_TEXT = 'boot:12';

export interface UiDetails {
  rows: number;
  runs: Record<TableKind, TableRun[]>;
  /** `ferry ui` with the app open in a tab and nothing running, after IDLE_MS. */
  idleRssBytes: number | undefined;
  /** The sync through the app against `ferry sync` (ui-sync.ts). */
  sync: UiSyncDetails;
}

/** How long the app sits open before its server's RSS is read. */
const IDLE_MS = 5_000;

/** Resident memory of a process from /proc (Linux), or undefined elsewhere. */
async function residentBytes(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const kib = status?.match(/^VmRSS:\s+(\d+) kB$/m)?.[1];
  return kib === undefined ? undefined : Number(kib) * 1024;
}

/** Browser mode at rest: `ferry ui` serving the app to one open tab, nothing running. */
async function measureIdleRss(browser: Browser, cleanup: Cleanup): Promise<number | undefined> {
  const library = await mkdtemp(join(tmpdir(), 'ferry-bench-ui-library-'));
  cleanup.defer(() => rm(library, { recursive: true, force: true }));
  const ui = await startFerryUi(['--library', library]);
  cleanup.track(ui.child);
  const page = await browser.newPage({ viewport: VIEWPORT });
  await page.goto(ui.url);
  await page.getByRole('heading', { name: 'Source' }).waitFor();
  await new Promise((done) => setTimeout(done, IDLE_MS));
  const rss = ui.child.pid === undefined ? undefined : await residentBytes(ui.child.pid);
  await page.close();
  await ui.stop();
  return rss;
}

/** Builds the bench page and serves it on loopback with Vite's preview server (Chromium runs no module script from a file:// page); answers its URL. */
async function serveBenchPage(cleanup: Cleanup): Promise<string> {
  const outDir = await mkdtemp(join(tmpdir(), 'ferry-bench-ui-'));
  cleanup.defer(() => rm(outDir, { recursive: true, force: true }));
  await build({ root: join(REPO_ROOT, 'test/renderer/bench-page'), base: './', configFile: false, logLevel: 'warn', plugins: [svelte()], build: { outDir, emptyOutDir: true } });
  const server = await preview({ configFile: false, logLevel: 'warn', build: { outDir }, preview: { host: '127.0.0.1', port: 0, open: false } });
  cleanup.defer(() => server.close());
  const url = server.resolvedUrls?.local[0];
  if (url === undefined) throw new Error('vite preview did not say where it listens');
  return `${url}index.html`;
}

async function measure(browser: Browser, pageUrl: string, kind: TableKind): Promise<TableRun> {
  const page = await browser.newPage({ viewport: VIEWPORT });
  try {
    await page.goto(`${pageUrl}?rows=${ROWS}#${kind}`);
    // The page measures itself (test/renderer/bench-page/main.ts); strings keep DOM code out of this Node file.
    const ready = await page.waitForFunction('window.benchReady', undefined, { timeout: 120_000 });
    const { renderMs, rowsInDom } = (await ready.jsonValue()) as { renderMs: number; rowsInDom: number };
    const scroll = await page.evaluate<Pick<TableRun, 'scrollMs' | 'steps' | 'longestFrameMs'>>('window.benchScroll()');
    const filter = (text: string): Promise<{ filterMs: number }> => page.evaluate<{ filterMs: number }>(`window.benchFilter(${JSON.stringify(text)})`);
    const { filterMs } = await filter(FILTER_TEXT);
    const { filterMs: clearMs } = await filter('');
    return { renderMs, rowsInDom, ...scroll, filterMs, clearMs };
  } finally {
    await page.close();
  }
}

/** `syncRounds`: rounds of the sync through the app and of `ferry sync` each (the bench's --rounds). */
export async function runUiBenchmark(syncRounds: number, cleanup: Cleanup): Promise<BenchmarkResult<UiDetails>> {
  const pageUrl = await serveBenchPage(cleanup);
  const browser = await launchChromium();
  cleanup.defer(() => browser.close());
  const runs: Record<TableKind, TableRun[]> = { windowed: [], plain: [] };
  for (let round = 0; round < ROUNDS; round += 1) {
    // Alternating, so neither kind always gets the warmer browser.
    for (const kind of round % 2 === 0 ? (['windowed', 'plain'] as const) : (['plain', 'windowed'] as const)) {
      note(`ui: ${kind} table of ${ROWS} rows, round ${round + 1} of ${ROUNDS}`);
      runs[kind].push(await measure(browser, pageUrl, kind));
    }
  }
  note('ui: browser mode at rest (ferry ui with the app open in a tab)');
  const idleRssBytes = await measureIdleRss(browser, cleanup);
  const sync = await runUiSyncBenchmark(browser, syncRounds, cleanup);
  await browser.close();
  if (idleRssBytes !== undefined) printSection('browser mode at rest', `ferry ui RSS with one tab open, idle ${IDLE_MS / 1000} s: ${(idleRssBytes / MIB).toFixed(1)} MiB`);
  const stat = (kind: TableKind, field: keyof TableRun): number => median(runs[kind].map((run) => run[field]));
  printSection(
    `catalog table, ${ROWS} rows, Chromium ${VIEWPORT.width}x${VIEWPORT.height} (median of ${ROUNDS})`,
    formatTable(
      ['table', 'first render', 'scroll all', 'steps', 'longest frame', 'rows in DOM', `filter "${FILTER_TEXT}"`, 'clear filter'],
      (['windowed', 'plain'] as const).map((kind) => [
        kind,
        `${stat(kind, 'renderMs').toFixed(0)} ms`,
        `${stat(kind, 'scrollMs').toFixed(0)} ms`,
        String(stat(kind, 'steps')),
        `${stat(kind, 'longestFrameMs').toFixed(0)} ms`,
        String(stat(kind, 'rowsInDom')),
        `${stat(kind, 'filterMs').toFixed(0)} ms`,
        `${stat(kind, 'clearMs').toFixed(0)} ms`,
      ]),
      new Set([1, 2, 3, 4, 5, 6, 7]),
    ),
  );
  const renderRatio = stat('windowed', 'renderMs') / stat('plain', 'renderMs');
  const scrollRatio = stat('windowed', 'scrollMs') / stat('plain', 'scrollMs');
  const frameRatio = stat('windowed', 'longestFrameMs') / stat('plain', 'longestFrameMs');
  const filterRatio = stat('windowed', 'filterMs') / stat('plain', 'filterMs');
  return {
    rows: [
      { benchmark: `catalog first render, ${ROWS} rows (windowed vs plain table)`, measured: { value: stat('windowed', 'renderMs'), unit: 'ms' }, baseline: { label: 'plain <table>', quantity: { value: stat('plain', 'renderMs'), unit: 'ms' } }, ratio: renderRatio, target: 'below 1', met: renderRatio < 1 },
      ...(idleRssBytes === undefined ? [] : [{ benchmark: 'browser mode idle RSS (ferry ui, one tab open)', measured: { value: idleRssBytes / MIB, unit: 'MiB' as const }, target: 'information', met: undefined }]),
      // Each scroll step waits for a frame, so on an idle machine both tables take steps x one frame
      // (information); the longest frame says which one stutters.
      { benchmark: `catalog scroll of all ${ROWS} rows (windowed vs plain table)`, measured: { value: stat('windowed', 'scrollMs'), unit: 'ms' }, baseline: { label: 'plain <table>', quantity: { value: stat('plain', 'scrollMs'), unit: 'ms' } }, ratio: scrollRatio, target: 'information', met: undefined },
      { benchmark: `catalog scroll, longest frame (windowed vs plain table)`, measured: { value: stat('windowed', 'longestFrameMs'), unit: 'ms' }, baseline: { label: 'plain <table>', quantity: { value: stat('plain', 'longestFrameMs'), unit: 'ms' } }, ratio: frameRatio, target: 'below 1', met: frameRatio < 1 },
      { benchmark: `catalog filter of ${ROWS} rows to the painted table (windowed vs plain table)`, measured: { value: stat('windowed', 'filterMs'), unit: 'ms' }, baseline: { label: 'plain <table>', quantity: { value: stat('plain', 'filterMs'), unit: 'ms' } }, ratio: filterRatio, target: 'below 1', met: filterRatio < 1 },
      ...sync.rows,
    ],
    details: { rows: ROWS, runs, idleRssBytes, sync: sync.details },
  };
}
