import { describe, expect, it } from 'vitest';
import { selectionMatches } from '../../../src-main/streams/filters.js';
import { explainNoMatch, lacksBootloaders, parseSelection, type FlatItem } from '../../../src-main/streams/index.js';

const image = (release: string, arch: string): FlatItem => ({ os: 'ubuntu', release, arch, subarch: 'ga-24.04', kflavor: 'generic', ftype: 'squashfs' });
const bootloader: FlatItem = { os: 'grub-efi-signed', arch: 'amd64', 'bootloader-type': 'uefi', ftype: 'archive.tar.xz' };
const items: FlatItem[] = [image('jammy', 'amd64'), image('noble', 'amd64'), image('noble', 'arm64'), bootloader];

describe('explainNoMatch', () => {
  it('names a key no item has, with the keys near it', () => {
    const report = explainNoMatch(items, parseSelection(['arches=amd64']));
    expect(report.unknownKeys).toEqual([{ filter: 'arches=amd64', key: 'arches', nearestKeys: ['arch'] }]);
    expect(report.unmatchedValues).toEqual([]);
  });

  it('names the existing values nearest to one no item has', () => {
    const report = explainNoMatch(items, parseSelection(['release=nobel']));
    expect(report.unmatchedValues).toEqual([{ filter: 'release=nobel', key: 'release', nearestValues: ['noble'] }]);
    const regex = explainNoMatch(items, parseSelection(['release~^focal']));
    expect(regex.unmatchedValues).toEqual([{ filter: 'release~^focal', key: 'release', nearestValues: ['jammy', 'noble'] }]);
  });

  it('finds filters on different keys that match apart but were ANDed in one group', () => {
    const report = explainNoMatch(items, parseSelection(['release=jammy', 'arch=arm64']));
    expect(report.andedAlternatives).toEqual([['release=jammy', 'arch=arm64']]);
    expect(report.sameKeyAlternatives).toEqual([]);
    expect(report.unknownKeys).toEqual([]);
    expect(report.unmatchedValues).toEqual([]);
  });

  it('offers one search filter, not --or, for two values of one key, keeping the other filters', () => {
    const report = explainNoMatch(items, parseSelection(['arch=amd64', 'release=noble', 'release=jammy']));
    expect(report.sameKeyAlternatives).toEqual([
      { filters: ['release=noble', 'release=jammy'], regex: 'release~^(noble|jammy)$', group: ['arch=amd64', 'release~^(noble|jammy)$'] },
    ]);
    // arch=amd64 --or release=noble --or release=jammy would select every noble and jammy image of every arch.
    expect(report.andedAlternatives).toEqual([]);
    // The suggested group selects exactly the amd64 images of both releases.
    const suggested = parseSelection(report.sameKeyAlternatives[0]?.group ?? []);
    expect(items.filter((item) => selectionMatches(item, suggested))).toEqual([image('jammy', 'amd64'), image('noble', 'amd64')]);
  });

  it('escapes regex characters in the merged values', () => {
    const report = explainNoMatch(items, parseSelection(['subarch=ga-24.04', 'subarch=hwe-24.04+x']));
    expect(report.sameKeyAlternatives[0]?.regex).toBe('subarch~^(ga-24\\.04|hwe-24\\.04\\+x)$');
  });

  it('lists every filter of the selection once, for the faces to explain MAAS words', () => {
    const report = explainNoMatch(items, parseSelection(['arches=amd64', 'releases=noble', '--or', 'arches=amd64']));
    expect(report.filters).toEqual(['arches=amd64', 'releases=noble']);
  });
});

describe('lacksBootloaders', () => {
  it('is true for MAAS images selected without any bootloader of the stream', () => {
    expect(lacksBootloaders(items, parseSelection(['release=noble']))).toBe(true);
  });

  it('is false once a bootloader is selected, or when the stream has none', () => {
    expect(lacksBootloaders(items, parseSelection(['release=noble', '--or', 'bootloader-type~.']))).toBe(false);
    expect(lacksBootloaders(items.slice(0, 3), parseSelection(['release=noble']))).toBe(false);
    expect(lacksBootloaders(items, parseSelection(['os=nothing']))).toBe(false);
  });
});
