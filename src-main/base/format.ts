// Quantities as people read them, in one place so that an engine message, a CLI line and (later)
// the app say the same thing. Faces choose where to show them; the numbers themselves stay in the
// events as plain counts. Part of base/, the ground floor: pure, no Node built-ins.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/**
 * 1536 → "1.5 KiB", 67108864 → "64.0 MiB", 100 → "100 B": the one size formatter of every face and
 * message. Binary units (drives and file managers disagree on decimal ones; MiB is exact), one
 * decimal below 100 of a unit, kept even when it is ".0" so that a table column or a live progress
 * line keeps its width as the numbers change.
 */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || Math.abs(value) >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${BYTE_UNITS[unit] ?? 'B'}`;
}

/** 1500 (ms) → "1.5 s", 30000 → "30 s": waits and timeouts, to a tenth of a second. */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/**
 * A word as a POSIX shell needs it, so that a printed command can be pasted back into a shell.
 * A `~` starting the word, or following `=` or `:` (bash expands those in any word, POSIX in
 * assignments), is quoted: unquoted, the shell would put a home folder there.
 */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./~-]+$/.test(word) && !/(?:^|[=:])~/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

/** A command line to paste: words quoted, but a shell variable (`$PROFILE`, `url=$MIRROR_URL`) left for the shell to expand. */
export function commandLine(argv: readonly string[]): string {
  return argv.map((word) => (/^([\w.-]+=)?\$[A-Z_]+$/.test(word) ? word : shellWord(word))).join(' ');
}
