import { describe, expect, it } from 'vitest';
import { cliHint } from '../../../src-main/cli/hints.js';
import { compareVersionNames, newestVersions, resolveVersions, sortNewestFirst } from '../../../src-main/streams/versions.js';
import { readGolden } from './reference-data.js';
import { thrownFerryError } from '../../support/expect-ferry-error.js';

interface ResolveWorkGolden {
  readonly source: readonly string[];
  readonly target: readonly string[];
  readonly max: number | null;
  readonly keep: boolean;
  readonly add?: readonly string[];
  readonly remove?: readonly string[];
  readonly error?: string;
}

describe('resolveVersions (util.resolve_work)', () => {
  const golden = readGolden('resolve-work.json') as ResolveWorkGolden[];

  it('gives the reference answer, lists in the same order, for every golden case', () => {
    const cases = golden.filter((entry) => entry.error === undefined);
    expect(cases.length).toBeGreaterThan(300);
    expect(cases.some((entry) => entry.keep && (entry.remove?.length ?? 0) > 0)).toBe(true);
    const differences = cases.filter((entry) => {
      const ours = resolveVersions(entry.source, entry.target, entry.max ?? undefined, entry.keep);
      return JSON.stringify(ours) !== JSON.stringify({ add: entry.add, remove: entry.remove });
    });
    expect(differences).toEqual([]);
  });

  it('refuses keep without max, where the reference raises TypeError', () => {
    const referenceError = golden.find((entry) => entry.error !== undefined);
    expect(referenceError?.error).toContain('cannot be None if keep is True');
    const error = thrownFerryError(() => resolveVersions(['1'], ['2'], undefined, true));
    expect(error.code).toBe('FERRY_SETTING_INVALID');
    expect(error.setting).toBe('keep');
    expect(cliHint(error)).toContain('--keep needs --max');
  });

  it('adds newest first and removes oldest first', () => {
    expect(resolveVersions(['20250718', '20250615', '20250801'], ['20250101', '20250615', '20240101'], undefined, false)).toEqual({
      add: ['20250801', '20250718'],
      remove: ['20240101', '20250101'],
    });
  });

  it('with max, removes target versions beyond it and does not add source versions beyond it', () => {
    expect(resolveVersions(['3', '2', '1'], ['1'], 2, false)).toEqual({ add: ['3', '2'], remove: ['1'] });
    expect(resolveVersions(['2', '1'], ['2', '1'], 1, false)).toEqual({ add: [], remove: ['1'] });
  });

  it('with keep, retains versions gone from the source up to max, newest first', () => {
    expect(resolveVersions(['3'], ['3', '2', '1'], 3, true)).toEqual({ add: [], remove: [] });
    expect(resolveVersions(['3'], ['3', '2', '1'], 2, true)).toEqual({ add: [], remove: ['1'] });
    expect(resolveVersions(['3'], ['3', '2', '1'], 2, false)).toEqual({ add: [], remove: ['1', '2'] });
  });

  it.each([-1, 1.5, Number.NaN])('refuses --max %s', (max) => {
    expect(thrownFerryError(() => resolveVersions(['1'], [], max, false))).toMatchObject({ code: 'FERRY_SETTING_INVALID', setting: 'max' });
    expect(thrownFerryError(() => newestVersions(['1'], max))).toMatchObject({ code: 'FERRY_SETTING_INVALID', setting: 'max' });
  });
});

describe('version order', () => {
  it("sorts foocloud's samepaths above 20121026.1: plain string order, not dates", () => {
    expect(sortNewestFirst(['20121001', 'samepaths', '20121026.1', '20120328'])).toEqual(['samepaths', '20121026.1', '20121001', '20120328']);
    expect(newestVersions(['20121001', 'samepaths', '20121026.1'], 1)).toEqual(['samepaths']);
  });

  it('does not use locale order', () => {
    expect(sortNewestFirst(['a', 'B', 'b', 'A'])).toEqual(['b', 'a', 'B', 'A']);
    expect(sortNewestFirst(['20250101_01', '20250101.1', '20250101'])).toEqual(['20250101_01', '20250101.1', '20250101']);
  });

  it("compares by code point, as Python does, even where UTF-16 units disagree", () => {
    // U+FF5E is above U+D83D (the first UTF-16 unit of the emoji), but below the emoji's code point.
    expect(compareVersionNames('😀', '\uff5e')).toBeGreaterThan(0);
    expect(['\uff5e', '😀'].sort()).toEqual(['😀', '\uff5e']);
    expect(compareVersionNames('a', 'ab')).toBeLessThan(0);
    expect(compareVersionNames('x', 'x')).toBe(0);
  });

  it('newestVersions without a count returns all, newest first; with 0 none', () => {
    expect(newestVersions(['1', '3', '2'], undefined)).toEqual(['3', '2', '1']);
    expect(newestVersions(['1', '3', '2'], 0)).toEqual([]);
  });
});
