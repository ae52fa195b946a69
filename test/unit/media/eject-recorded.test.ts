import { describe, expect, it } from 'vitest';
import { ejectDrive } from '../../../src-main/media/index.js';
import { parseMountinfo } from '../../../src-main/media/mounts.js';
import { recordedRunner } from '../../support/recorded-commands.js';

// The macOS and Windows eject paths fed with answers in the form diskutil and PowerShell print
// them (this machine has neither tool): each answer must become the right outcome.

function diskutilInfo(entries: Record<string, string | boolean>): string {
  const body = Object.entries(entries)
    .map(([key, value]) => `<key>${key}</key>${typeof value === 'boolean' ? `<${value}/>` : `<string>${value}</string>`}`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0"><dict>${body}</dict></plist>\n`;
}

const USB_STICK = diskutilInfo({
  DeviceIdentifier: 'disk4s1',
  ParentWholeDisk: 'disk4',
  MountPoint: '/Volumes/FERRY',
  Internal: false,
  Ejectable: true,
  RemovableMedia: true,
});

describe('ejectDrive on macOS (diskutil)', () => {
  it('ejects the whole disk of a USB stick', async () => {
    const { run, calls } = recordedRunner((_file, args) => {
      if (args[0] === 'info') return { stdout: USB_STICK, stderr: '', exitCode: 0 };
      if (args[0] === 'eject') return { stdout: 'Disk disk4 ejected\n', stderr: '', exitCode: 0 };
      return undefined;
    });
    const outcome = await ejectDrive({ mountPoint: '/Volumes/FERRY/FERRY/20261130T054000Z-3fa9c2d1', platform: 'darwin', run });
    expect(outcome).toEqual({ kind: 'ejected', mountPoint: '/Volumes/FERRY', device: '/dev/disk4', poweredOff: true, tool: 'diskutil' });
    expect(calls.map((call) => [call.file, ...call.args].join(' '))).toEqual([
      'diskutil info -plist /Volumes/FERRY/FERRY/20261130T054000Z-3fa9c2d1',
      'diskutil eject disk4',
    ]);
  });

  it('names the dissenting process of a busy disk, in either form diskutil prints it', async () => {
    for (const stderr of [
      'Unmount of disk4 failed: at least one volume could not be unmounted\nUnmount failed for /Volumes/FERRY\nDissenter parent PPID 1 (launchd) PID 812 (vim)\n',
      'Volume FERRY on disk4s1 failed to unmount: dissented by PID 812 (vim)\n',
    ]) {
      const { run } = recordedRunner((_file, args) =>
        args[0] === 'info' ? { stdout: USB_STICK, stderr: '', exitCode: 0 } : { stdout: '', stderr, exitCode: 1 },
      );
      expect(await ejectDrive({ mountPoint: '/Volumes/FERRY', platform: 'darwin', run })).toMatchObject({
        kind: 'busy',
        holders: [{ pid: 812, command: 'vim' }],
      });
    }
  });

  it('does not eject the internal disk, and reports what diskutil says otherwise', async () => {
    const internal = recordedRunner(() => ({
      stdout: diskutilInfo({ DeviceIdentifier: 'disk3s1', ParentWholeDisk: 'disk3', MountPoint: '/', Internal: true, Ejectable: false }),
      stderr: '',
      exitCode: 0,
    }));
    expect(await ejectDrive({ mountPoint: '/Users/op/export', platform: 'darwin', run: internal.run })).toMatchObject({ kind: 'not-a-drive' });
    expect(internal.calls).toHaveLength(1);

    const refused = recordedRunner((_file, args) =>
      args[0] === 'info' ? { stdout: USB_STICK, stderr: '', exitCode: 0 } : { stdout: '', stderr: 'Disk disk4 failed to eject: (-69888) Couldn\'t open device\n', exitCode: 1 },
    );
    expect(await ejectDrive({ mountPoint: '/Volumes/FERRY', platform: 'darwin', run: refused.run })).toEqual({
      kind: 'failed',
      mountPoint: '/Volumes/FERRY',
      tool: 'diskutil',
      message: "Disk disk4 failed to eject: (-69888) Couldn't open device",
    });
  });
});

describe('ejectDrive on Windows (PowerShell)', () => {
  const answering = (stdout: string): ReturnType<typeof recordedRunner> =>
    recordedRunner((file) => (file === 'powershell.exe' ? { stdout, stderr: '', exitCode: 0 } : undefined));

  it('ejects by drive letter and reads each answer of the script', async () => {
    const ejected = answering('{"result":"ejected"}\r\n');
    expect(await ejectDrive({ mountPoint: 'e:\\FERRY\\20261130T054000Z-3fa9c2d1', platform: 'win32', run: ejected.run })).toEqual({
      kind: 'ejected',
      mountPoint: 'E:\\',
      device: null,
      poweredOff: true,
      tool: 'powershell',
    });
    expect(ejected.calls[0]?.args.at(-1)).toContain("$drive = 'E:'");

    expect(await ejectDrive({ mountPoint: 'E:\\', platform: 'win32', run: answering('{"result":"busy"}').run })).toMatchObject({ kind: 'busy', holders: [] });
    expect(await ejectDrive({ mountPoint: 'C:\\export', platform: 'win32', run: answering('{"result":"system"}').run })).toMatchObject({ kind: 'not-a-drive' });
    expect(
      await ejectDrive({ mountPoint: 'E:\\', platform: 'win32', run: answering('{"result":"error","message":"Access is denied."}').run }),
    ).toMatchObject({ kind: 'failed', message: 'Access is denied.' });
  });

  it('does not try to eject a network share', async () => {
    const { run, calls } = answering('');
    expect(await ejectDrive({ mountPoint: '\\\\server\\share\\export', platform: 'win32', run })).toMatchObject({ kind: 'not-a-drive' });
    expect(calls).toEqual([]);
  });
});

describe('parseMountinfo', () => {
  it('reads mount points with escaped spaces, FUSE mounts and their sources', () => {
    const text = [
      '43 27 7:1 / /tmp/ejt/e\\040x rw,relatime - ext4 /dev/loop1 rw',
      '42 27 0:39 / /tmp/ejt/m rw,nosuid,nodev,relatime - fuse.fusefat fusefat rw,user_id=0,group_id=0',
      '',
    ].join('\n');
    expect(parseMountinfo(text)).toEqual([
      { mountPoint: '/tmp/ejt/e x', fsType: 'ext4', source: '/dev/loop1' },
      { mountPoint: '/tmp/ejt/m', fsType: 'fuse.fusefat', source: 'fusefat' },
    ]);
  });
});
