import type { FerryError, RetryEvent } from '../engine/index.js';
import { cliHint } from './hints.js';

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
  const wait = `${Number((event.delayMs / 1000).toFixed(1))} s`;
  const why = event.retryAfter ? `, as the server asked (Retry-After),` : '';
  const what = event.cause.message.includes(event.url) ? event.cause.message : `${event.url}: ${event.cause.message}`;
  return `Waiting ${wait}${why} then attempt ${event.attempt + 1} of ${event.maxAttempts}: ${what}`;
}

const byteUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB"; binary units because drives and file managers disagree and MiB is exact. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < byteUnits.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || Math.abs(value) >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${byteUnits[unit] ?? 'B'}`;
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
