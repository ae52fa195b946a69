// Quantities as people read them, in one place so that an engine message, a CLI line and (later)
// the app say the same thing. Faces choose where to show them; the numbers themselves stay in the
// events as plain counts. Part of base/, the ground floor: pure, no Node built-ins.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/**
 * 1536 → "1.5 KiB", 67108864 → "64 MiB", 100 → "100 B": binary units (drives and file managers
 * disagree on decimal ones; MiB is exact), at most one decimal below 100 of a unit, none when it
 * would be ".0" — unless `fixedDecimal`, which keeps it ("1.0 GiB") so that a column or a live
 * progress line keeps its width as the numbers change (the CLI's tables and progress lines).
 */
export function formatBytes(bytes: number, options: { readonly fixedDecimal?: boolean } = {}): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || Math.abs(value) >= 100 ? 0 : 1;
  const text = value.toFixed(digits);
  return `${options.fixedDecimal === true ? text : Number(text)} ${BYTE_UNITS[unit] ?? 'B'}`;
}

/** 1500 (ms) → "1.5 s", 30000 → "30 s": waits and timeouts, to a tenth of a second. */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
