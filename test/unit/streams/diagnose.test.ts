import { describe, expect, it } from 'vitest';
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

  it('finds filters that match apart but were ANDed in one group', () => {
    const report = explainNoMatch(items, parseSelection(['release=jammy', 'release=noble']));
    expect(report.andedAlternatives).toEqual([['release=jammy', 'release=noble']]);
    expect(report.unknownKeys).toEqual([]);
    expect(report.unmatchedValues).toEqual([]);
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
