// The last step of an export to a drive (issue 9 §3): written, verified, then ejected. Only a
// removable drive the drive list shows with a volume mounted at the target's mount point is
// ejected; anything else (a folder on a system disk, a network share, a loop file) is not a drive.
import { describeError } from '../base/errors.js';
import { ejectDrive, type EjectOutcome } from '../media/index.js';
import { listDrives } from './drives.js';

/**
 * Ejects the drive mounted at `mountPoint` (the export target `path` lies on it) when the drive
 * list (listDrives: lsblk, diskutil or PowerShell; system and virtual drives left out) shows a
 * removable or USB drive with a volume mounted there; ejectDrive's outcome (ejected, busy with the
 * holding processes, failed with the tool's words), or not-a-drive naming why. Never throws: a drive
 * list that cannot be read is not-a-drive, with the reason.
 */
export async function ejectExportTarget(path: string, mountPoint: string): Promise<EjectOutcome> {
  let drives;
  try {
    ({ drives } = await listDrives());
  } catch (error) {
    return { kind: 'not-a-drive', path, reason: `the drives could not be listed (${describeError(error)})` };
  }
  const drive = drives.find((candidate) => candidate.volumes.some((volume) => volume.mountPoints.includes(mountPoint)));
  if (drive === undefined) return { kind: 'not-a-drive', path, reason: `no removable drive is mounted at ${mountPoint}` };
  if (!drive.removable && !drive.usb) return { kind: 'not-a-drive', path, reason: `${drive.device} is a fixed disk` };
  return ejectDrive({ mountPoint });
}
