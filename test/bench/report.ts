import { formatTable } from '../../src-main/cli/output.js';

// What every benchmark hands back: one or more summary rows (a figure, the baseline measured in the
// same run, their ratio, and the product target it is judged against), plus its own details for
// the JSON summary. Benchmarks never fail on a number; `met` is reported, not asserted.

export const MIB = 1024 * 1024;
export const GIB = 1024 * MIB;

export interface Quantity {
  value: number;
  unit: 'ms' | 's' | 'MiB/s' | 'MiB' | 'bytes' | 'events/s' | 'redraws/s';
}

export interface SummaryRow {
  benchmark: string;
  measured: Quantity;
  /** Absent when the figure has no baseline (bytes that must be zero). */
  baseline?: { label: string; quantity: Quantity };
  /** measured / baseline, in the direction the row's description states. */
  ratio?: number;
  target: string;
  /** Undefined for a row shown for information, with no target of its own. */
  met: boolean | undefined;
}

export interface BenchmarkResult<Details> {
  rows: SummaryRow[];
  details: Details;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

export function formatQuantity(quantity: Quantity): string {
  switch (quantity.unit) {
    case 'ms':
      return `${quantity.value.toFixed(1)} ms`;
    case 's':
      return `${quantity.value.toFixed(2)} s`;
    case 'MiB/s':
      return `${quantity.value.toFixed(0)} MiB/s`;
    case 'MiB':
      return `${quantity.value.toFixed(1)} MiB`;
    case 'bytes':
      return `${quantity.value} B`;
    case 'events/s':
    case 'redraws/s':
      return `${quantity.value.toFixed(1)} ${quantity.unit}`;
  }
}

export function formatRatio(ratio: number | undefined): string {
  return ratio === undefined ? '-' : ratio.toFixed(2);
}

export function renderSummary(rows: readonly SummaryRow[]): string {
  return formatTable(
    ['benchmark', 'measured', 'baseline', 'ratio', 'target', 'met?'],
    rows.map((row) => [
      row.benchmark,
      formatQuantity(row.measured),
      row.baseline === undefined ? '-' : `${formatQuantity(row.baseline.quantity)} (${row.baseline.label})`,
      formatRatio(row.ratio),
      row.target,
      row.met === undefined ? '-' : row.met ? 'yes' : 'NO',
    ]),
    new Set([1, 3]),
  );
}

/** A section heading on stdout, so the tables stand apart from the progress notes on stderr. */
export function printSection(title: string, body: string): void {
  process.stdout.write(`\n== ${title}\n${body}`);
}

/** Progress notes go to stderr: stdout holds only the tables. */
export function note(text: string): void {
  process.stderr.write(`bench: ${text}\n`);
}
