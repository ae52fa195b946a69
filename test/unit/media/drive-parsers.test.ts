import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listDrives } from '../../../src-main/engine/index.js';
import { detectDrives, type Drive } from '../../../src-main/media/index.js';
import { parseBlkidUdev, parseLsblk } from '../../../src-main/media/lsblk.js';
import { parseDiskutilList } from '../../../src-main/media/diskutil.js';
import { parsePlist } from '../../../src-main/media/plist.js';
import { parseWindowsStorage } from '../../../src-main/media/windows.js';
import { thrownFerryError } from '../../support/expect-ferry-error.js';
import { DRIVE_FIXTURES, linuxRunner, recordedRunner } from '../../support/recorded-commands.js';

const fixture = (name: string): Promise<string> => readFile(join(DRIVE_FIXTURES, name), 'utf8');

// The drive parsers on recorded outputs (test/fixtures/drives/README.md says which were captured
// on this machine and which were written as the tools print them), through the real detector.

const linux = (fixture: string, blkid: Record<string, string> = {}): Promise<Drive[]> =>
  detectDrives({ platform: 'linux', run: linuxRunner(fixture, blkid).run });

function drive(drives: readonly Drive[], device: string): Drive {
  const found = drives.find((candidate) => candidate.device === device);
  if (found === undefined) throw new Error(`${device} not in ${drives.map((d) => d.device).join(', ')}`);
  return found;
}

describe('Linux: lsblk --json --bytes', () => {
  it('reads a vfat, an exFAT, an NTFS and an ext4 USB stick with labels, mount points and free space', async () => {
    const drives = await linux('usb-sticks.lsblk.json');
    const summary = ['/dev/sdb', '/dev/sdc', '/dev/sdd', '/dev/sde'].map((device) => {
      const stick = drive(drives, device);
      const volume = stick.volumes[0];
      return [device, stick.usb, stick.removable, stick.systemReasons.length, volume?.fsType, volume?.label, volume?.mountPoints[0], volume?.freeBytes];
    });
    expect(summary).toEqual([
      ['/dev/sdb', true, true, 0, 'vfat', 'FERRY', '/media/op/FERRY', 15530000384],
      ['/dev/sdc', true, true, 0, 'exfat', 'EXF64', undefined, null],
      ['/dev/sdd', true, true, 0, 'ntfs', 'WINDATA', '/media/op/WINDATA', 30900000768],
      ['/dev/sde', true, true, 0, 'ext4', 'mirror', '/mnt/usb', 7200000000],
    ]);
    expect(drive(drives, '/dev/sdb').model).toBe('SanDisk Cruzer Blade');
    expect(drive(drives, '/dev/sdb').sizeBytes).toBe(15552479232);
  });

  it('marks an NVMe disk holding /, /boot/efi and swap as a system disk, and hides it by default', async () => {
    const drives = await linux('usb-sticks.lsblk.json');
    const nvme = drive(drives, '/dev/nvme0n1');
    expect(nvme.systemReasons).toEqual(['holds /boot/efi', 'holds /', 'holds swap']);
    expect(nvme.bus).toBe('nvme');
    const listing = await listDrives({ platform: 'linux', run: linuxRunner('usb-sticks.lsblk.json').run });
    expect(listing.drives.map((d) => d.device)).toEqual(['/dev/sdb', '/dev/sdc', '/dev/sdd', '/dev/sde']);
    expect(listing.hidden).toEqual([{ device: '/dev/nvme0n1', reasons: ['holds /boot/efi', 'holds /', 'holds swap'] }]);
    const all = await listDrives({ platform: 'linux', showSystem: true, run: linuxRunner('usb-sticks.lsblk.json').run });
    expect(all.drives.map((d) => d.device)).toContain('/dev/nvme0n1');
    expect(all.hidden).toEqual([]);
  });

  it('reads a stick with no partition table: the file system is on the whole device', async () => {
    const stick = drive(await linux('superfloppy.lsblk.json'), '/dev/sdf');
    expect(stick.volumes).toEqual([
      { device: '/dev/sdf', kind: 'whole-device', sizeBytes: 4009754624, fsType: 'vfat', label: 'NOPART', mountPoints: ['/media/op/NOPART'], freeBytes: 4000000000 },
    ]);
  });

  it('reads an empty card reader as a drive without a medium, and does not probe it', async () => {
    const { run, calls } = linuxRunner('empty-card-reader.lsblk.json');
    const reader = drive(await detectDrives({ platform: 'linux', run }), '/dev/sdg');
    expect([reader.sizeBytes, reader.hasMedia, reader.removable, reader.volumes]).toEqual([0, false, true, []]);
    expect(calls.filter((call) => call.file === 'blkid')).toEqual([]);
  });

  it('sees through LUKS and LVM: a disk whose root and swap are logical volumes inside LUKS is a system disk', async () => {
    const drives = await linux('luks-lvm-system.lsblk.json');
    const nvme = drive(drives, '/dev/nvme0n1');
    expect(nvme.systemReasons).toEqual(['holds /boot/efi', 'holds /boot', 'holds /', 'holds swap']);
    expect(nvme.volumes.map((volume) => [volume.device, volume.kind, volume.fsType])).toEqual([
      ['/dev/nvme0n1p1', 'partition', 'vfat'],
      ['/dev/nvme0n1p2', 'partition', 'ext4'],
      ['/dev/nvme0n1p3', 'partition', 'crypto_luks'],
      ['/dev/mapper/nvme0n1p3_crypt', 'crypt', 'lvm2_member'],
      ['/dev/mapper/vgubuntu-root', 'lvm', 'ext4'],
      ['/dev/mapper/vgubuntu-swap_1', 'lvm', 'swap'],
    ]);
    expect(drive(drives, '/dev/sdb').systemReasons).toEqual([]);
  });

  it('marks both disks of a volume group spanning two disks, and leaves an unrelated internal disk visible', async () => {
    const listing = await listDrives({ platform: 'linux', run: linuxRunner('lvm-two-disks.lsblk.json').run });
    expect(listing.hidden).toEqual([
      { device: '/dev/sda', reasons: ['holds /boot/efi', 'holds /', 'holds /home'] },
      { device: '/dev/sdb', reasons: ['holds /home'] },
    ]);
    expect(listing.drives.map((d) => [d.device, d.removable])).toEqual([['/dev/sdc', false]]);
  });

  it('reads a write-protected SD card as read-only', async () => {
    const card = drive(await linux('write-protected-sd.lsblk.json'), '/dev/sdh');
    expect([card.readOnly, card.removable, card.model, card.volumes[0]?.label]).toEqual([true, true, 'Generic- SD/MMC', 'RPI-SD']);
  });

  it('keeps odd labels exactly (display is safeText’s job)', async () => {
    const stick = drive(await linux('odd-labels.lsblk.json'), '/dev/sdj');
    expect(stick.volumes.map((volume) => volume.label)).toEqual([
      '\u202eexe.gpj',
      'TWO\nLINES',
      `FERRY-${'x'.repeat(194)}`,
      '🚀 ferry 😀',
      'US\u200bB\u001b[2J',
    ]);
    expect(stick.volumes[1]?.mountPoints).toEqual(['/media/op/TWO\nLINES']);
  });

  it('reads util-linux 2.33 output (every value a string, MOUNTPOINT) and leaves optical drives out', async () => {
    const drives = await linux('util-linux-2.33.lsblk.json');
    expect(drives.map((d) => [d.device, d.sizeBytes, d.removable, d.systemReasons])).toEqual([
      ['/dev/sda', 256060514304, false, ['holds /']],
      ['/dev/sdb', 16008609792, true, []],
    ]);
    expect(drive(drives, '/dev/sdb').volumes[0]?.mountPoints).toEqual(['/media/op/OLDLSBLK']);
  });

  it('falls back to MOUNTPOINT when lsblk does not know MOUNTPOINTS', async () => {
    const { run, calls } = recordedRunner((file, args) => {
      if (file !== 'lsblk') return { stdout: '', stderr: '', exitCode: 2 };
      if (args.join(' ').includes('MOUNTPOINTS')) return { stdout: '', stderr: 'lsblk: unknown column: MOUNTPOINTS', exitCode: 1 };
      return 'linux/util-linux-2.33.lsblk.json';
    });
    expect((await detectDrives({ platform: 'linux', run })).length).toBe(2);
    expect(calls.filter((call) => call.file === 'lsblk').map((call) => call.args.at(-1)?.includes('MOUNTPOINTS'))).toEqual([true, false]);
  });

  it('reads the real capture of this machine with loop devices (no udev: lsblk knows no types, blkid fills them in)', async () => {
    const blkid = Object.fromEntries([0, 1, 2, 3].map((n) => [`/dev/loop${n}`, `captured-loops.blkid-loop${n}.txt`]));
    const drives = await linux('captured-loops.lsblk.json', blkid);
    const loops = drives.filter((d) => d.device.startsWith('/dev/loop'));
    expect(loops.map((d) => [d.device, d.virtual, d.volumes[0]?.kind, d.volumes[0]?.fsType, d.volumes[0]?.label])).toEqual([
      ['/dev/loop0', true, 'whole-device', 'vfat', 'FERRY FAT'],
      ['/dev/loop1', true, 'whole-device', 'exfat', 'ÉXFAT ☃'],
      ['/dev/loop2', true, 'whole-device', 'ntfs', 'line1\nline2 🚀'],
      ['/dev/loop3', true, 'whole-device', 'ext4', '\u202egpj.exe'],
    ]);
    expect(drive(drives, '/dev/loop1').volumes[0]?.mountPoints).toEqual(['/tmp/rec/mexfat']);
    expect(drive(drives, '/dev/vda').systemReasons).toEqual(['holds /']);
    // The -O capture (every column) parses to the same drives.
    const everyColumn = parseLsblk(await fixture('linux/captured-loops.lsblk-O.json'));
    expect(everyColumn.map((d) => [d.device, d.sizeBytes, d.systemReasons])).toEqual(
      parseLsblk(await fixture('linux/captured-loops.lsblk.json')).map((d) => [d.device, d.sizeBytes, d.systemReasons]),
    );
  });

  it('decodes blkid’s \\xHH escapes back to the exact label', () => {
    expect(parseBlkidUdev('ID_FS_LABEL=a_b\nID_FS_LABEL_ENC=a\\x0ab\\x5cx41\nID_FS_TYPE=ntfs\n')).toEqual({ fsType: 'ntfs', label: 'a\nb\\x41' });
  });

  it('refuses output that is not lsblk JSON', () => {
    expect(thrownFerryError(() => parseLsblk('NAME MAJ:MIN RM')).code).toBe('FERRY_DRIVE_OUTPUT_INVALID');
    expect(thrownFerryError(() => parseLsblk('{"devices": []}')).code).toBe('FERRY_DRIVE_OUTPUT_INVALID');
  });

  it('says which tool failed and how', async () => {
    const { run } = recordedRunner(() => ({ stdout: '', stderr: 'lsblk: failed to access sysfs directory', exitCode: 32 }));
    await expect(detectDrives({ platform: 'linux', run })).rejects.toMatchObject({ code: 'FERRY_DRIVE_TOOL_FAILED', actual: 'lsblk: failed to access sysfs directory' });
    await expect(detectDrives({ platform: 'aix', run })).rejects.toMatchObject({ code: 'FERRY_DRIVES_UNSUPPORTED' });
  });
});

describe('macOS: diskutil -plist', () => {
  const mac = recordedRunner((file, args) => {
    if (file !== 'diskutil') return undefined;
    if (args[0] === 'list') return 'macos/diskutil-list.plist';
    const target = args[2] ?? '';
    return target === '/' ? 'macos/info-root.plist' : `macos/info-${target}.plist`;
  });

  it('lists the USB stick with its FAT32 volume; the internal SSD behind the boot container is a system disk', async () => {
    const drives = await detectDrives({ platform: 'darwin', run: mac.run });
    expect(drives.map((d) => [d.device, d.model, d.bus, d.removable, d.virtual, d.systemReasons])).toEqual([
      ['/dev/disk0', 'APPLE SSD AP0512Q', 'apple fabric', false, false, ['holds the boot volume']],
      ['/dev/disk3', null, 'apple fabric', false, true, ['boot disk']],
      ['/dev/disk4', 'SanDisk Cruzer Blade', 'usb', true, false, []],
    ]);
    expect(drive(drives, '/dev/disk4').volumes).toEqual([
      { device: 'disk4s1', kind: 'partition', sizeBytes: 15551430656, fsType: 'msdos', label: 'FERRY', mountPoints: ['/Volumes/FERRY'], freeBytes: 15530000384 },
    ]);
    expect(drive(drives, '/dev/disk3').volumes.map((v) => [v.label, v.mountPoints, v.freeBytes])).toEqual([
      ['Macintosh HD - Data', ['/System/Volumes/Data'], 200000000000],
      ['Macintosh HD', ['/'], 200000000000],
    ]);
    const listing = await listDrives({ platform: 'darwin', run: mac.run });
    expect(listing.drives.map((d) => d.device)).toEqual(['/dev/disk4']);
  });

  it('reads the physical stores of APFS containers', async () => {
    const text = await fixture('macos/diskutil-list.plist');
    expect(parseDiskutilList(text).wholeDisks.find((disk) => disk.id === 'disk3')?.physicalStores).toEqual(['disk0s2']);
  });

  it('reads property-list entities and refuses what is not a property list', () => {
    expect(parsePlist('<plist version="1.0"><dict><key>A&amp;B</key><string>&lt;x&#x41;&#66;&gt;</string><key>n</key><integer>-5</integer><key>e</key><array/></dict></plist>')).toEqual({ 'A&B': '<xAB>', n: -5, e: [] });
    expect(thrownFerryError(() => parsePlist('<html></html>')).code).toBe('FERRY_DRIVE_OUTPUT_INVALID');
    expect(thrownFerryError(() => parsePlist('<plist><dict><string>x</string></dict></plist>')).code).toBe('FERRY_DRIVE_OUTPUT_INVALID');
  });
});

describe('Windows: Get-Disk, Get-Partition, Get-Volume as JSON', () => {
  const windows = recordedRunner((file) => (file === 'powershell.exe' ? 'windows/storage.json' : undefined));

  it('joins partitions to volumes; the boot disk is a system disk; an empty reader has no medium; a locked SD card is read-only', async () => {
    const drives = await detectDrives({ platform: 'win32', run: windows.run });
    expect(drives.map((d) => [d.device, d.bus, d.removable, d.readOnly, d.hasMedia, d.systemReasons])).toEqual([
      ['\\\\.\\PHYSICALDRIVE0', 'nvme', false, false, true, ['boot disk', 'holds the system partition']],
      ['\\\\.\\PHYSICALDRIVE1', 'usb', true, false, true, []],
      ['\\\\.\\PHYSICALDRIVE2', 'usb', true, false, false, []],
      ['\\\\.\\PHYSICALDRIVE3', 'sd', true, true, true, []],
    ]);
    expect(drive(drives, '\\\\.\\PHYSICALDRIVE1').volumes.map((v) => [v.fsType, v.label, v.mountPoints, v.freeBytes])).toEqual([
      ['exfat', 'FERRY', ['E:\\'], 15549202432],
    ]);
    expect(drive(drives, '\\\\.\\PHYSICALDRIVE0').volumes.map((v) => [v.fsType, v.label, v.mountPoints])).toEqual([
      ['fat32', null, []],
      [null, null, []],
      ['ntfs', 'Windows', ['C:\\']],
    ]);
  });

  it('accepts a single disk written as an object and a byte order mark, and refuses other text', () => {
    const one = '\uFEFF{"disks": {"Number": 1, "FriendlyName": "X", "Size": 5, "BusType": "USB"}, "partitions": null, "volumes": null}';
    expect(parseWindowsStorage(one).map((d) => [d.device, d.sizeBytes, d.usb])).toEqual([['\\\\.\\PHYSICALDRIVE1', 5, true]]);
    expect(thrownFerryError(() => parseWindowsStorage('Get-Disk : Access denied')).code).toBe('FERRY_DRIVE_OUTPUT_INVALID');
  });
});
