import { formatBytes, formatSeconds } from '../base/format.js';
import type { FerryError, RetryEvent } from '../engine/index.js';
import { cliHint } from './hints.js';

/**
 * Sizes as the CLI prints them in tables, summaries and progress lines: base/'s formatBytes with the
 * decimal kept below 100 of a unit ("1.0 GiB"), as the CLI always has. Its own name, so that
 * `formatBytes` means one output everywhere.
 */
export function formatBytesFixed(bytes: number): string {
  return formatBytes(bytes, { fixedDecimal: true });
}

/** The message, the facts worth reading, the hint in the CLI's words (cli/hints.ts) and the code. */
export function formatError(error: FerryError): string {
  const lines = [`ferry: ${error.message}`];
  if (error.expected !== undefined) lines.push(`  expected: ${error.expected}`);
  if (error.actual !== undefined) lines.push(`  actual:   ${error.actual}`);
  const hint = cliHint(error);
  if (hint !== undefined) lines.push(`  hint: ${hint}`);
  lines.push(`  (${error.code})`);
  return `${lines.join('\n')}\n`;
}

/**
 * "Waiting 2 s, as the server asked (Retry-After), then attempt 2 of 5: <cause>": every wait
 * before a retry is said, with why and for what.
 */
export function formatRetry(event: RetryEvent): string {
  const wait = formatSeconds(event.delayMs);
  const why = event.retryAfter ? `, as the server asked (Retry-After),` : '';
  const what = event.cause.message.includes(event.url) ? event.cause.message : `${event.url}: ${event.cause.message}`;
  return `Waiting ${wait}${why} then attempt ${event.attempt + 1} of ${event.maxAttempts}: ${what}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const whole = Math.max(0, Math.round(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const secs = whole % 60;
  const mmss = `${String(minutes).padStart(2, '0')}:${String(secs).padStart(2, '0')}`;
  return hours > 0 ? `${hours}:${mmss}` : mmss;
}

/** A plain text table: columns padded to their widest cell, numbers right-aligned. */
export function formatTable(header: string[], rows: string[][], rightAligned: ReadonlySet<number> = new Set()): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const render = (cells: string[]): string =>
    cells
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return rightAligned.has(column) ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [render(header), ...rows.map(render)].join('\n') + '\n';
}
