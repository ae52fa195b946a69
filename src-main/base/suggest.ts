// "Did you mean" for every kind of name an operator types: options, commands, filter keys and
// values. One implementation, so the CLI and the stream diagnostics rank candidates alike.
// Part of base/: pure, no Node built-ins.

/**
 * The optimal string alignment distance between two strings: insertions, deletions,
 * substitutions and swaps of two neighbours, each 1 (so `nobel` is 1 from `noble`), counted in
 * UTF-16 code units. Throws nothing.
 */
export function editDistance(a: string, b: string): number {
  // rows[i][j]: distance between the first i units of a and the first j of b.
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i += 1) {
    const row = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const above = rows[i - 1] ?? [];
      let best = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      row.push(best);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}

/**
 * The candidates closest to `word`, nearest first (ties in the candidates' order), at most `limit`
 * of them, and only those within a distance a typo explains: a third of the word's length (at
 * least 1, at most 3), or that contain the word or are contained in it (case-insensitively), as
 * `arches` and `arch` are. Throws nothing.
 */
export function nearestNames(word: string, candidates: Iterable<string>, limit = 3): string[] {
  const lower = word.toLowerCase();
  const allowed = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  const scored: Array<{ name: string; distance: number }> = [];
  for (const name of new Set(candidates)) {
    if (name === word) continue;
    const other = name.toLowerCase();
    const distance = editDistance(lower, other);
    const contains = lower.length >= 3 && other.length >= 3 && (other.includes(lower) || lower.includes(other));
    if (distance <= allowed || contains) scored.push({ name, distance });
  }
  return scored
    .sort((left, right) => left.distance - right.distance)
    .slice(0, limit)
    .map((entry) => entry.name);
}
