import { formatSeconds } from '../base/format.js';
import { FerryError } from '../base/errors.js';
import type { InternalErrorData, RetryEvent } from '../engine/index.js';
import { cliHint } from './hints.js';

/**
 * The environment variables ferry reads, as `ferry --help` and the man page list them:
 * [name, what it does].
 */
export const environmentHelp: readonly (readonly [string, string])[] = [
  ['FERRY_LIBRARY', 'the library directory when --library is not given'],
  ['HTTPS_PROXY', 'proxy for https sources (also https_proxy); --proxy wins'],
  ['HTTP_PROXY', 'proxy for http sources (also http_proxy); --proxy wins'],
  ['NO_PROXY', 'hosts reached without the proxy (also no_proxy)'],
  ['NODE_EXTRA_CA_CERTS', 'a PEM file of extra CAs to trust, as --ca-cert FILE'],
  ['TERM', 'dumb: progress as plain lines, never redrawn'],
  ['COLUMNS', 'the width of the live display when the terminal does not say'],
];

/**
 * The expected and actual facts of an error (a checksum's two digests, a size's two counts), one
 * line each under `indent`: every place a failure is told shows them, not only the fatal one.
 */
export function factLines(error: { expected?: string | undefined; actual?: string | undefined }, indent: string): string[] {
  return [
    ...(error.expected === undefined ? [] : [`${indent}expected: ${error.expected}`]),
    ...(error.actual === undefined ? [] : [`${indent}actual:   ${error.actual}`]),
  ];
}

/** The message, the facts worth reading, the hint in the CLI's words (cli/hints.ts) and the code. */
export function formatError(error: FerryError): string {
  const lines = [`ferry: ${error.message}`, ...factLines(error, '  ')];
  const hint = cliHint(error);
  if (hint !== undefined) lines.push(`  hint: ${hint}`);
  lines.push(`  (${error.code})`);
  return `${lines.join('\n')}\n`;
}

/**
 * A fatal error as the last line of --json output on stdout:
 * `{"type":"error","exitCode":N,"error":{code, message, hint, facts...}}` (a FerryError as its
 * toJSON gives it, with the CLI's hint), or `{"name":"InternalError","message":…}` for a bug.
 */
export function formatErrorJson(error: FerryError | InternalErrorData, exitCode: number): string {
  const plain = error instanceof FerryError ? { ...error.toJSON(), hint: cliHint(error) } : error;
  return `${JSON.stringify({ type: 'error', exitCode, error: plain })}\n`;
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

/** Columns a text takes; the default counts code points (tables hold names and numbers). */
export type TextWidth = (text: string) => number;
const codePoints: TextWidth = (text) => Array.from(text).length;

/**
 * The start of `text` that fits `width` columns, with … where the rest was cut (`keep: 'end'`
 * keeps the end instead: a path's or product's last part tells more than its first).
 */
export function fitText(text: string, width: number, keep: 'start' | 'end' = 'start', measure: TextWidth = codePoints): string {
  if (measure(text) <= width) return text;
  if (width <= 0) return '';
  const characters = Array.from(text);
  let kept = '';
  while (characters.length > 0) {
    const next = keep === 'start' ? characters.shift() : characters.pop();
    const candidate = keep === 'start' ? `${kept}${next ?? ''}` : `${next ?? ''}${kept}`;
    if (measure(`${candidate}…`) > width) break;
    kept = candidate;
  }
  return keep === 'start' ? `${kept}…` : `…${kept}`;
}

/** The widest a table is drawn: a terminal of 80 columns shows it without wrapping. */
export const TABLE_WIDTH = 80;

/** Columns a table must not cut: `whole` ones keep every cell entire; `ownLine`, when the row cannot hold it, goes on a line of its own. */
export interface TableLayout {
  readonly whole?: ReadonlySet<number>;
  readonly ownLine?: number;
}

/**
 * A plain text table: columns padded to their widest cell, numbers right-aligned, at most
 * `maxWidth` columns wide where it can: past that the widest column narrows, step by step: a text
 * column down to its header or 6, its cells keeping their ends after a …; a number column only to
 * its widest number, a `whole` column not at all, and no header is cut, so that numbers and titles
 * stay whole. When that is still too wide, the `ownLine` column (a long name) is printed on a line
 * of its own above the rest of its row, indented by 2: a name cut to its last characters names nothing.
 */
export function formatTable(header: string[], rows: string[][], rightAligned: ReadonlySet<number> = new Set(), maxWidth = TABLE_WIDTH, layout: TableLayout = {}): string {
  const { whole = new Set<number>(), ownLine } = layout;
  const widths = header.map((title, column) =>
    Math.max(codePoints(title), ...rows.map((row) => codePoints(row[column] ?? ''))),
  );
  const floors = header.map((title, column) =>
    whole.has(column) || column === ownLine
      ? (widths[column] ?? 0)
      : Math.max(codePoints(title), rightAligned.has(column) ? Math.max(0, ...rows.map((row) => codePoints(row[column] ?? ''))) : Math.min(6, widths[column] ?? 0)),
  );
  const total = (): number => widths.reduce((sum, width) => sum + width, 0) + 2 * (widths.length - 1);
  while (total() > maxWidth) {
    let widest = -1;
    widths.forEach((width, column) => {
      if (width > (floors[column] ?? 0) && (widest === -1 || width > (widths[widest] ?? 0))) widest = column;
    });
    if (widest === -1) break;
    widths[widest] = (widths[widest] ?? 0) - 1;
  }
  if (ownLine !== undefined && total() > maxWidth) {
    const others = (cells: string[]): string[] => cells.filter((_, column) => column !== ownLine);
    const shifted = (columns: ReadonlySet<number>): Set<number> => new Set([...columns].filter((column) => column !== ownLine).map((column) => (column > ownLine ? column - 1 : column)));
    const rest = formatTable(others(header), rows.map(others), shifted(rightAligned), maxWidth - 2, { whole: shifted(whole) }).trimEnd().split('\n');
    return [header, ...rows].map((cells, row) => `${cells[ownLine] ?? ''}\n  ${rest[row] ?? ''}`).join('\n') + '\n';
  }
  const render = (cells: string[]): string =>
    cells
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        const fitted = fitText(cell, width, 'end');
        const pad = ' '.repeat(Math.max(0, width - codePoints(fitted)));
        return rightAligned.has(column) ? `${pad}${fitted}` : `${fitted}${pad}`;
      })
      .join('  ')
      .trimEnd();
  return [render(header), ...rows.map(render)].join('\n') + '\n';
}
