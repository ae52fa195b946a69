// Which versions of a product to add to or remove from a mirror, as the reference's
// util.resolve_work decides it. "Newest" is the greatest name under Python's plain string order,
// not a date: foocloud's 'samepaths' sorts above '20121026.1'.

import { FerryError } from '../base/errors.js';

export interface VersionWork {
  /** Versions to add, newest first. */
  readonly add: string[];
  /** Versions to remove, oldest first (the order the reference removes them in). */
  readonly remove: string[];
}

/**
 * Python compares str by code point. That equals UTF-16 code unit order except where a character
 * above U+FFFF meets one in U+E000..U+FFFF, so the surrogate ranges are lifted above the rest.
 * Throws nothing.
 */
export function compareVersionNames(left: string, right: string): number {
  const length = Math.min(left.length, right.length);
  for (let index = 0; index < length; index += 1) {
    const leftUnit = left.charCodeAt(index);
    const rightUnit = right.charCodeAt(index);
    if (leftUnit !== rightUnit) return codePointRank(leftUnit) - codePointRank(rightUnit);
  }
  return left.length - right.length;
}

function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

export function sortNewestFirst(versions: readonly string[]): string[] {
  return [...versions].sort((left, right) => compareVersionNames(right, left));
}

/**
 * The `count` newest versions, newest first; all of them when count is undefined (sstream-query's
 * max). Throws FERRY_SETTING_INVALID (setting `max`) for a count that is not a whole number >= 0.
 */
export function newestVersions(versions: readonly string[], count: number | undefined): string[] {
  assertVersionCount(count);
  const sorted = sortNewestFirst(versions);
  return count === undefined ? sorted : sorted.slice(0, count);
}

/**
 * The reference's resolve_work: versions in the source but not the target are added, versions in
 * the target but not the source are removed, and at most `max` versions remain. With `keep`, the
 * newest versions due for removal stay until `max` is reached. Throws FERRY_SETTING_INVALID
 * (setting `max`) for a max that is not a whole number >= 0, and (setting `keep`) for keep without
 * max, where the reference raises TypeError.
 */
export function resolveVersions(
  sourceVersions: readonly string[],
  targetVersions: readonly string[],
  max: number | undefined,
  keep: boolean,
): VersionWork {
  assertVersionCount(max);
  if (keep && max === undefined) {
    throw new FerryError('FERRY_SETTING_INVALID', 'Keeping versions that left the source needs a maximum number of versions, and none was given.', {
      setting: 'keep',
      hint: 'Give a maximum number of versions, or do not keep versions that left the source.',
    });
  }
  const inSource = new Set(sourceVersions);
  const inTarget = new Set(targetVersions);
  const add = sortNewestFirst(sourceVersions).filter((version) => !inTarget.has(version));
  let remove = sortNewestFirst(targetVersions).filter((version) => !inSource.has(version));

  if (keep && max !== undefined) {
    const countAfterAdding = targetVersions.length + add.length;
    while (remove.length > 0 && max > countAfterAdding - remove.length) remove.shift();
  }

  if (max !== undefined) {
    const removing = new Set(remove);
    const remaining = sortNewestFirst([...targetVersions, ...add].filter((version) => !removing.has(version)));
    for (const version of remaining.slice(max)) {
      if (inTarget.has(version)) remove.push(version);
      else add.splice(add.indexOf(version), 1);
    }
  }
  remove = sortNewestFirst(remove).reverse();
  return { add, remove };
}

function assertVersionCount(count: number | undefined): void {
  if (count === undefined || (Number.isSafeInteger(count) && count >= 0)) return;
  // The reference would slice from the end for a negative max and drop the oldest versions.
  throw new FerryError('FERRY_SETTING_INVALID', `The maximum number of versions must be a whole number, 0 or more; got ${count}.`, {
    setting: 'max',
    expected: 'a whole number, 0 or more',
    actual: String(count),
    hint: 'A maximum of 1 keeps only the newest version of each product.',
  });
}
