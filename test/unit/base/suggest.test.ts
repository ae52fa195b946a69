import { describe, expect, it } from 'vitest';
import { editDistance, nearestNames } from '../../../src-main/base/suggest.js';

describe('editDistance', () => {
  it('counts insertions, deletions and substitutions', () => {
    expect(editDistance('', '')).toBe(0);
    expect(editDistance('arch', 'arch')).toBe(0);
    expect(editDistance('jamy', 'jammy')).toBe(1);
    expect(editDistance('concurency', 'concurrency')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('nobel', 'noble')).toBe(1);
    expect(editDistance('abc', '')).toBe(3);
  });
});

describe('nearestNames', () => {
  it('offers names within a typo of the word, nearest first', () => {
    expect(nearestNames('--kering', ['--keyring', '--keep', '--path'])).toEqual(['--keyring']);
    expect(nearestNames('nobel', ['jammy', 'noble', 'focal'])).toEqual(['noble']);
  });

  it('offers a name that contains the word or is contained in it (arches and arch)', () => {
    expect(nearestNames('arches', ['arch', 'subarch', 'os'])).toEqual(['arch']);
  });

  it('offers nothing for an unrelated word, and never the word itself', () => {
    expect(nearestNames('xyz', ['arch', 'release'])).toEqual([]);
    expect(nearestNames('arch', ['arch'])).toEqual([]);
  });

  it('keeps at most `limit` names', () => {
    expect(nearestNames('ab', ['aa', 'ac', 'ad', 'ae'], 2)).toEqual(['aa', 'ac']);
  });
});
