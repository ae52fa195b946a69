import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatTable } from '../../src-main/cli/output.js';
import { parseProducts } from '../../src-main/streams/documents.js';
import { parseSelection } from '../../src-main/streams/filters.js';
import { flattenProducts, flattenTree } from '../../src-main/streams/flatten.js';
import { selectItems } from '../../src-main/streams/select.js';
import { generateStream } from '../support/stream-generator.js';
import type { Cleanup } from './cleanup.js';
import { median, note, printSection, type BenchmarkResult } from './report.js';

// Product target: "a products catalog ten times the size of the real stable stream parses,
// flattens and filters in under 200 ms". The real stable v3 file has about 150-250 products with 2
// versions each (simplestreams.md §5), so ten times is ~2,500 products: 5 releases × 4 arches × 125
// kernels, 2 versions, 4 items each, plus the bootloader and CentOS files a mirror also reads.

const CATALOG_STREAM = {
  releases: ['xenial', 'bionic', 'focal', 'jammy', 'noble'],
  arches: ['amd64', 'arm64', 'ppc64el', 's390x'],
  kernels: 125,
  versions: 2,
  payloads: 'none',
} as const;
/** The selection the CLI's own example uses: amd64 jammy and noble images plus the bootloaders. */
const SELECTION_ARGS = ['arch=amd64', 'release~(jammy|noble)', '--or', 'os~(grub*|pxelinux)'];
const WARM_UP_RUNS = 2;
const MEASURED_RUNS = 10;
const TARGET_MS = 200;

interface ProductsText {
  path: string;
  text: string;
}

export interface CatalogDetails {
  products: number;
  items: number;
  catalogBytes: number;
  selectedItems: number;
  runs: number;
  /** Median wall time of each step over the measured runs. */
  medianMs: Record<StepName, number>;
  targetMs: number;
}

type StepName = 'jsonParse' | 'parse' | 'flattenTree' | 'flattenAllItems' | 'select' | 'pipeline';

export async function runCatalogBenchmark(cleanup: Cleanup): Promise<BenchmarkResult<CatalogDetails>> {
  const texts = await generateCatalog(cleanup);
  const selection = parseSelection(SELECTION_ARGS);
  const documents = texts.map(({ path, text }) => parseProducts(text, path));
  const products = documents.reduce((sum, doc) => sum + doc.products.length, 0);
  const items = documents.reduce((sum, doc) => sum + flattenProducts(doc).length, 0);
  const selectedItems = documents.reduce((sum, doc) => sum + selectItems(doc, selection).length, 0);
  const catalogBytes = texts.reduce((sum, { text }) => sum + Buffer.byteLength(text), 0);
  note(`catalog: ${products} products, ${items} items, ${(catalogBytes / 1e6).toFixed(1)} MB of JSON; ${selectedItems} items selected`);

  // Each step works on its own input (text, or the documents parsed above), so steps can be timed
  // alone. What a step returns is counted, which keeps the work observable.
  let observed = 0;
  const steps: Record<StepName, () => void> = {
    jsonParse: () => {
      for (const { text } of texts) observed += Object.keys(JSON.parse(text) as object).length;
    },
    parse: () => {
      for (const { path, text } of texts) observed += parseProducts(text, path).products.length;
    },
    flattenTree: () => {
      for (const doc of documents) observed += flattenTree(doc).length;
    },
    flattenAllItems: () => {
      for (const doc of documents) observed += flattenProducts(doc).length;
    },
    select: () => {
      for (const doc of documents) observed += selectItems(doc, selection).length;
    },
    pipeline: () => {
      for (const { path, text } of texts) observed += selectItems(parseProducts(text, path), selection).length;
    },
  };
  const times: Record<StepName, number[]> = { jsonParse: [], parse: [], flattenTree: [], flattenAllItems: [], select: [], pipeline: [] };
  const stepNames = Object.keys(steps) as StepName[];
  // Interleaved, so a slow patch of the machine (or a GC left over by another step) spreads over
  // every step instead of landing on one.
  for (let run = 0; run < WARM_UP_RUNS + MEASURED_RUNS; run += 1) {
    for (const name of stepNames) {
      const started = performance.now();
      steps[name]();
      if (run >= WARM_UP_RUNS) times[name].push(performance.now() - started);
    }
  }
  if (observed === 0) throw new Error('the catalog steps produced nothing');

  const medianMs = Object.fromEntries(stepNames.map((name) => [name, median(times[name])])) as Record<StepName, number>;
  const baseline = medianMs.jsonParse;
  const ratio = (ms: number): string => (ms / baseline).toFixed(2);
  const row = (step: string, what: string, ms: number): string[] => [step, what, `${ms.toFixed(1)} ms`, ratio(ms)];
  printSection(
    `catalog: ${products} products, ${items} items, ${(catalogBytes / 1e6).toFixed(1)} MB; median of ${MEASURED_RUNS} runs after ${WARM_UP_RUNS} warm-up`,
    formatTable(
      ['step', 'what runs', 'median', '× JSON.parse'],
      [
        row('baseline', 'JSON.parse of the same text', medianMs.jsonParse),
        row('parse', 'parseProducts (validation, aliases, item paths)', medianMs.parse),
        row('flatten', 'flattenTree (inherited fields per version)', medianMs.flattenTree),
        row('filter', `selectItems: flatten + filter, ${selectedItems} items selected`, medianMs.select),
        row('pipeline', 'parseProducts + selectItems (what a mirror run does)', medianMs.pipeline),
        row('(info)', "flattenProducts: every item's flat map, as sstream's products_exdata", medianMs.flattenAllItems),
      ],
      new Set([2, 3]),
    ) + `target: pipeline under ${TARGET_MS} ms: ${medianMs.pipeline < TARGET_MS ? 'met' : 'NOT met'}\n`,
  );

  return {
    rows: [
      {
        benchmark: 'catalog parse+flatten+filter',
        measured: { value: medianMs.pipeline, unit: 'ms' },
        baseline: { label: 'JSON.parse', quantity: { value: baseline, unit: 'ms' } },
        ratio: medianMs.pipeline / baseline,
        target: `< ${TARGET_MS} ms`,
        met: medianMs.pipeline < TARGET_MS,
      },
    ],
    details: { products, items, catalogBytes, selectedItems, runs: MEASURED_RUNS, medianMs, targetMs: TARGET_MS },
  };
}

async function generateCatalog(cleanup: Cleanup): Promise<ProductsText[]> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-catalog-'));
  cleanup.defer(() => rm(dir, { recursive: true, force: true }));
  const stream = await generateStream(dir, CATALOG_STREAM);
  const productsPaths = stream.metadataFiles.filter((path) => !path.endsWith('/index.json'));
  const texts = await Promise.all(productsPaths.map(async (path) => ({ path, text: await readFile(join(dir, path), 'utf8') })));
  // Only the text is needed from here on.
  await rm(dir, { recursive: true, force: true });
  return texts;
}
