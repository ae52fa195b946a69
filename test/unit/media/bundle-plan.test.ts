import { describe, expect, it } from 'vitest';
import type { FerryError } from '../../../src-main/base/errors.js';
import { thrownFerryError } from '../../support/expect-ferry-error.js';
import { checkVolumeForTarget, planExport, volumeBytesNeeded, volumeSizeFor, type ExportPlanInput } from '../../../src-main/media/bundle/plan.js';
import type { BundleFile } from '../../../src-main/media/bundle/manifest.js';
import { cliHint } from '../../../src-main/cli/hints.js';

// The export verdict (issue 9 §2) on its own: volumes, parts, space and the file system's rules.

const KIB = 1024;
const MIB = 1024 * KIB;
const digest = (character: string): string => character.repeat(64);

const files: BundleFile[] = [
  { path: 'streams/v1/com.ubuntu.maas:stable:v3:download.sjson', size: 10 * KIB, sha256: digest('a'), role: 'metadata' },
  { path: 'streams/v1/index.sjson', size: 2 * KIB, sha256: digest('b'), role: 'metadata' },
  { path: 'noble/amd64/20250615/squashfs', size: 6 * MIB, sha256: digest('c'), role: 'item' },
  { path: 'noble/amd64/20250615/ga-24.04/generic/boot-kernel', size: 1 * MIB, sha256: digest('d'), role: 'item' },
  // The same bytes at a second path: one blob.
  { path: 'noble/amd64/20250622/ga-24.04/generic/boot-kernel', size: 1 * MIB, sha256: digest('d'), role: 'item' },
];

function refused(action: () => unknown, code: string): FerryError {
  const error = thrownFerryError(action);
  expect(error.code).toBe(code);
  return error;
}

const input = (overrides: Partial<ExportPlanInput> = {}): ExportPlanInput => ({
  files,
  carried: new Set(files.map((file) => file.sha256)),
  layout: 'bundle',
  bundleId: '20261130T054000Z-3fa9c2d1',
  filesystem: 'fat32',
  freeBytes: 1024 * MIB,
  blockSize: 4 * KIB,
  volumeOverheadBytes: 64 * KIB,
  ...overrides,
});

describe('planExport', () => {
  it('carries each distinct blob once, whole where it fits', () => {
    const plan = planExport(input());
    expect(plan.volumes).toHaveLength(1);
    expect(plan.volumes[0]?.map((blob) => blob.sha256)).toEqual([digest('a'), digest('b'), digest('c'), digest('d')]);
    expect(plan.splitBlobs).toBe(0);
    // Each file takes whole 4 KiB blocks: 10 KiB takes 12.
    expect(plan.bytesNeeded).toBe(12 * KIB + 4 * KIB + 6 * MIB + 1 * MIB + 64 * KIB);
  });

  it('refuses a part size below 4 KiB, and a plan of more than 100,000 part files (FERRY_SETTING_INVALID)', () => {
    expect(refused(() => planExport(input({ partSize: 1 })), 'FERRY_SETTING_INVALID').message).toContain('below the smallest part, 4096 bytes');
    expect(planExport(input({ partSize: 4 * KIB })).splitBlobs).toBe(3);
    // 4 KiB parts of a 400 MiB blob: 102,400 files.
    const large: BundleFile[] = [...files, { path: 'noble/amd64/20250615/root.tgz', size: 400 * MIB, sha256: digest('e'), role: 'item' }];
    const tooMany = refused(() => planExport(input({ files: large, carried: new Set(large.map((file) => file.sha256)), partSize: 4 * KIB })), 'FERRY_SETTING_INVALID');
    expect(tooMany.message).toContain('at most 100000');
  });

  it('splits a blob larger than the part size into parts, the last one shorter', () => {
    const plan = planExport(input({ partSize: 4 * MIB }));
    expect(plan.volumes[0]?.find((blob) => blob.sha256 === digest('c'))).toEqual({ sha256: digest('c'), size: 6 * MIB, partSize: 4 * MIB, parts: 2 });
    expect(plan.splitBlobs).toBe(1);
  });

  it('fills volumes in order up to the volume size, every volume with the metadata blobs, and refuses a blob no volume can hold', () => {
    const plan = planExport(input({ volumeSize: 7 * MIB }));
    expect(plan.volumes.map((volume) => volume.map((blob) => blob.sha256))).toEqual([
      [digest('a'), digest('b'), digest('c')],
      [digest('a'), digest('b'), digest('d')],
    ]);
    // Each volume's space counts its own copy of the metadata (12 + 4 KiB) and small files.
    expect(plan.bytesNeeded).toBe(2 * (12 * KIB + 4 * KIB + 64 * KIB) + 6 * MIB + 1 * MIB);
    // 6 MiB of squashfs plus the metadata and small files pass a 6 MiB volume.
    refused(() => planExport(input({ volumeSize: 6 * MIB + 16 * KIB })), 'FERRY_TARGET_UNFIT');
    refused(() => planExport(input({ volumeSize: 5 * MIB })), 'FERRY_TARGET_UNFIT');
  });

  it('one drive after another: a blob larger than the drive asks for a larger drive, never --volume-size (a blob is not split across drives)', () => {
    const error = refused(() => planExport(input({ volumeSize: 5 * MIB, volumeSizeIsDrive: true })), 'FERRY_TARGET_UNFIT');
    expect(error.message).toContain(`A blob of ${6 * MIB} bytes (${digest('c')}) does not fit on one drive`);
    expect(error.message).toContain('a blob is never split across drives');
    expect(error).toMatchObject({ expected: `a drive that holds a volume of more than ${6 * MIB + 12 * KIB + 4 * KIB + 64 * KIB} bytes`, actual: `${5 * MIB} bytes` });
    expect(cliHint(error)).toContain('Export to a larger drive');
    expect(cliHint(error)).not.toContain('--volume-size');
    // Given --volume-size, the remedy is a larger one.
    expect(cliHint(refused(() => planExport(input({ volumeSize: 5 * MIB })), 'FERRY_TARGET_UNFIT'))).toBe('Give a larger --volume-size.');
  });

  it('carries only the item blobs asked for (an incremental bundle) and always the metadata, and keys plans by what they write', () => {
    const incremental = planExport(input({ carried: new Set([digest('d')]) }));
    expect(incremental.volumes[0]?.map((blob) => blob.sha256)).toEqual([digest('a'), digest('b'), digest('d')]);
    expect(incremental.key).not.toBe(planExport(input()).key);
    expect(planExport(input({ bundleId: '20261130T060000Z-00000000' })).key).toBe(planExport(input()).key);
  });

  it('refuses too little free space with the margin, counting what an earlier run already wrote', () => {
    const needed = planExport(input()).bytesNeeded;
    const error = refused(() => planExport(input({ freeBytes: needed })), 'FERRY_NOT_ENOUGH_SPACE');
    expect(error.message).toContain('margin');
    expect(planExport(input({ freeBytes: needed, presentBytes: 6 * MIB })).bytesNeeded).toBe(needed - 6 * MIB);
    // A file system that does not say (fusefat): the writes will tell.
    expect(planExport(input({ freeBytes: null })).freeBytes).toBeNull();
  });

  it("refuses a plain tree where the file system cannot hold ':' in names, naming the path and rule", () => {
    for (const filesystem of ['fat32', 'exfat', 'ntfs'] as const) {
      const error = refused(() => planExport(input({ layout: 'tree', filesystem })), 'FERRY_TARGET_UNFIT');
      expect(error.message).toContain('com.ubuntu.maas:stable:v3:download.sjson');
      expect(error.message).toContain("':'");
    }
    expect(planExport(input({ layout: 'tree', filesystem: 'ext4' })).volumes).toEqual([]);
  });
});

describe('one drive after another', () => {
  const items: BundleFile[] = [
    ...files.filter((file) => file.role === 'metadata'),
    { path: 'noble/amd64/20250615/squashfs', size: 3 * MIB, sha256: digest('c'), role: 'item' },
    { path: 'noble/arm64/20250615/squashfs', size: 3 * MIB, sha256: digest('d'), role: 'item' },
    { path: 'noble/amd64/20250615/boot-kernel', size: 1 * MIB, sha256: digest('e'), role: 'item' },
  ];
  const drives = (overrides: Partial<ExportPlanInput> = {}): ExportPlanInput => input({ files: items, carried: new Set(items.map((file) => file.sha256)), filesystem: 'ext4', freeBytes: null, ...overrides });

  it('volumeSizeFor leaves the margin the verdict keeps: a volume of that size fits the drive', () => {
    for (const free of [2 * MIB, 5 * MIB, 100 * MIB, 10 * 1024 * MIB]) {
      const size = volumeSizeFor(free);
      const { bytesNeeded, marginBytes } = volumeBytesNeeded([{ sha256: digest('c'), size, partSize: undefined, parts: 1 }], 1, 0);
      expect(bytesNeeded + marginBytes, `${free} bytes free`).toBeLessThanOrEqual(free);
      expect(bytesNeeded + marginBytes + 1024 * 1024, `${free} bytes free`).toBeGreaterThan(free);
    }
  });

  it('volumeItemCounts plans the split an earlier run chose, whatever volumeSize would now give', () => {
    const bySize = planExport(drives({ volumeSize: 3 * MIB + 512 * KIB }));
    expect(bySize.volumes.map((volume) => volume.length)).toEqual([3, 3, 3]);
    const again = planExport(drives({ volumeItemCounts: [1, 1, 1] }));
    expect(again.volumes).toEqual(bySize.volumes);
    expect(again.key).toBe(bySize.key);
    expect(planExport(drives({ volumeItemCounts: [2, 1] })).key).not.toBe(bySize.key);
    expect(() => planExport(drives({ volumeItemCounts: [1, 1] }))).toThrow(/do not add up/);
  });

  it('checkVolumeForTarget refuses a FAT32 drive for a volume planned on ext4 without parts, and a drive too small, naming why', () => {
    const plan = planExport(drives({ files: [...items, { path: 'noble/amd64/20250615/huge.img', size: 5 * 1024 * MIB, sha256: digest('f'), role: 'item' }], carried: new Set([...items.map((file) => file.sha256), digest('f')]) }));
    const [volume] = plan.volumes;
    const planned = { bundleId: '20261130T054000Z-3fa9c2d1', volumeIndex: 2, plannedFor: 'ext4' as const, overheadBytes: 64 * KIB };
    const fat = refused(() => {
      checkVolumeForTarget(volume ?? [], planned, { path: '/media/b', filesystem: 'fat32', blockSize: 4 * KIB, freeBytes: 64 * 1024 * MIB, presentBytes: 0 });
    }, 'FERRY_TARGET_UNFIT');
    expect(fat.message).toMatch(/Volume 2 was planned for ext4, and the fat32 file system at \/media\/b cannot hold it as planned: .*larger than the largest file fat32 holds/);
    const small = refused(() => {
      checkVolumeForTarget(volume ?? [], planned, { path: '/media/b', filesystem: 'ext4', blockSize: 4 * KIB, freeBytes: 1024 * MIB, presentBytes: 0 });
    }, 'FERRY_NOT_ENOUGH_SPACE');
    expect(small.message).toMatch(/^Volume 2 needs \d+ bytes plus a margin of \d+, and \/media\/b has 1073741824 bytes free/);
    // An exFAT drive holds the 5 GiB blob whole: accepted.
    checkVolumeForTarget(volume ?? [], planned, { path: '/media/b', filesystem: 'exfat', blockSize: 4 * KIB, freeBytes: 64 * 1024 * MIB, presentBytes: 0 });
  });
});
