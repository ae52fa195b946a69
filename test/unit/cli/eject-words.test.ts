import { describe, expect, it } from 'vitest';
import { ejectWords } from '../../../src-main/cli/eject-words.js';

describe('ejectWords', () => {
  it('says what happened to the drive and what to do, after "written and verified; "', () => {
    expect(`written and verified; ${ejectWords({ kind: 'busy', mountPoint: '/media/op/FERRY', holders: [{ pid: 4242, command: 'tail' }], tool: 'umount', message: 'target is busy' })}`).toBe(
      'written and verified; eject failed: the drive is busy (process 4242 (tail) holds it); close it, then eject /media/op/FERRY before removing the drive',
    );
    expect(ejectWords({ kind: 'busy', mountPoint: 'E:\\', holders: [], tool: 'powershell', message: '' })).toContain('(a program still uses it)');
    expect(ejectWords({ kind: 'ejected', mountPoint: '/media/op/FERRY', device: '/dev/sdb1', poweredOff: true, tool: 'udisksctl' })).toBe('ejected: the drive can be removed');
    expect(ejectWords({ kind: 'ejected', mountPoint: '/media/op/FERRY', device: null, poweredOff: false, tool: 'umount' })).toBe(
      'unmounted /media/op/FERRY: the drive can be removed',
    );
    expect(ejectWords({ kind: 'failed', mountPoint: '/Volumes/FERRY', tool: 'diskutil', message: "Couldn't open device" })).toBe(
      "eject failed: diskutil said: Couldn't open device; eject /Volumes/FERRY yourself before removing the drive",
    );
    expect(ejectWords({ kind: 'not-a-drive', path: '/srv/export', reason: 'it is on the system disk, which holds /' })).toBe(
      'not ejected: /srv/export is not on a removable drive (it is on the system disk, which holds /)',
    );
  });
});
