import { describe, expect, it } from 'vitest';
import { checkFilesForFilesystem, defaultPartSize, filesystemKind } from '../../../src-main/media/index.js';
import { thrownFerryError } from '../../support/expect-ferry-error.js';

// The export verdict's file system rules as a table; test/integration/media/fs-rules-real.test.ts
// proves each rule on the real file system.

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

describe('checkFilesForFilesystem', () => {
  const mirrorPath = 'streams/v1/com.ubuntu.maas:stable:v3:download.sjson';

  it('names each problem with its path and rule: a MAAS products file name cannot go on FAT32, exFAT or NTFS', () => {
    for (const kind of ['fat32', 'exfat', 'ntfs'] as const) {
      expect(checkFilesForFilesystem([{ path: mirrorPath, size: 10 }], kind).problems).toEqual([
        { path: mirrorPath, rule: 'forbidden-character', enforcedBy: 'filesystem', message: `the name 'com.ubuntu.maas:stable:v3:download.sjson' holds ':', which ${kind} cannot store` },
      ]);
    }
    expect(checkFilesForFilesystem([{ path: mirrorPath, size: 10 }], 'ext4')).toEqual({ problems: [], splits: [] });
  });

  it('refuses reserved names with any extension, in any case, and trailing dots and spaces', () => {
    const rules = (path: string): string[] => checkFilesForFilesystem([{ path, size: 0 }], 'fat32').problems.map((p) => p.rule);
    expect(rules('dir/Aux.tar.gz')).toEqual(['reserved-name']);
    expect(rules('nul')).toEqual(['reserved-name']);
    expect(rules('COM9.txt')).toEqual(['reserved-name']);
    expect(rules('lpt0')).toEqual(['reserved-name-extended']);
    expect(rules('CONSOLE')).toEqual([]);
    expect(rules('name.')).toEqual(['trailing-dot-or-space']);
    expect(rules('dir /x')).toEqual(['trailing-dot-or-space']);
    expect(rules('a\u0007b')).toEqual(['control-character']);
  });

  it('counts names in UTF-16 units on FAT/exFAT/NTFS and in bytes on ext4', () => {
    const accented = '\u00e9'.repeat(200);
    expect(checkFilesForFilesystem([{ path: accented, size: 0 }], 'exfat').problems).toEqual([]);
    expect(checkFilesForFilesystem([{ path: accented, size: 0 }], 'ext4').problems.map((p) => [p.rule, p.message])).toEqual([
      ['name-length', 'a name is 400 bytes long; ext4 allows 255'],
    ]);
    expect(checkFilesForFilesystem([{ path: '\u{1f600}'.repeat(128), size: 0 }], 'ntfs').problems.map((p) => p.rule)).toEqual(['name-length']);
  });

  it('flags paths past Windows MAX_PATH as a Windows rule', () => {
    const path = `${'d'.repeat(200)}/${'f'.repeat(57)}`;
    expect(checkFilesForFilesystem([{ path, size: 0 }], 'ntfs').problems.map((p) => [p.rule, p.enforcedBy])).toEqual([['path-length', 'windows']]);
    expect(checkFilesForFilesystem([{ path: 'x'.repeat(255), size: 0 }], 'ntfs').problems).toEqual([]);
  });

  it('splits files of 4 GiB or more on FAT32 into parts of whole MiB, and nothing elsewhere', () => {
    const files = [
      { path: 'squashfs', size: 4 * GIB },
      { path: 'kernel', size: 4 * GIB - 1 },
    ];
    expect(checkFilesForFilesystem(files, 'fat32').splits).toEqual([{ path: 'squashfs', size: 4 * GIB, partSize: 4095 * MIB, parts: 2 }]);
    expect(checkFilesForFilesystem(files, 'exfat').splits).toEqual([]);
    expect(defaultPartSize('fat32')).toBe(4095 * MIB);
    expect(defaultPartSize('ext4')).toBeNull();
  });

  it('takes a lower part size (as tests and volume limits need), every part full but the last', () => {
    const verdict = checkFilesForFilesystem([{ path: 'a', size: 10 * MIB + 1 }, { path: 'b', size: 1 * MIB }], 'fat32', { partSize: MIB });
    expect(verdict.splits).toEqual([{ path: 'a', size: 10 * MIB + 1, partSize: MIB, parts: 11 }]);
    expect(checkFilesForFilesystem([{ path: 'a', size: 3 }], 'ext4', { partSize: 2 }).splits).toEqual([{ path: 'a', size: 3, partSize: 2, parts: 2 }]);
  });

  it('refuses a part size the file system cannot hold', () => {
    expect(thrownFerryError(() => checkFilesForFilesystem([], 'fat32', { partSize: 4 * GIB })).code).toBe('FERRY_SETTING_INVALID');
    expect(thrownFerryError(() => checkFilesForFilesystem([], 'ext4', { partSize: 0 })).code).toBe('FERRY_SETTING_INVALID');
  });
});

describe('filesystemKind', () => {
  it('maps the names lsblk, diskutil and Windows use', () => {
    expect(['vfat', 'msdos', 'FAT32', 'exFAT', 'NTFS', 'ntfs3', 'ext3', 'apfs', null].map(filesystemKind)).toEqual([
      'fat32', 'fat32', 'fat32', 'exfat', 'ntfs', 'ntfs', 'ext4', null, null,
    ]);
  });
});
