// Quantities for the screens. Byte sizes come from base/format.ts, the one formatter the CLI and
// engine messages use too, so the app and the terminal say the same "1.5 GiB" (and quote a
// command line the same way).
export { commandLine, formatBytes } from '../../src-main/base/format.js';

/** Seconds left as words: "less than a minute", "about 12 min", "about 2 h 5 min"; null: not known yet. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return 'working out the time left';
  if (seconds < 60) return 'less than a minute left';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} min left`;
  return `about ${Math.floor(minutes / 60)} h ${minutes % 60} min left`;
}

export function formatPercent(done: number, total: number): string {
  if (total <= 0) return '0%';
  return `${Math.floor((done / total) * 100)}%`;
}

/** An ISO 8601 time as the operator's local date and time. */
export function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
