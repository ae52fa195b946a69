// `ferry drives` and the export target picker: the drives of this machine, system and virtual
// ones held back unless asked for.
import { detectDrives, isHiddenByDefault, type CommandRunner, type Drive } from '../media/index.js';

export interface ListDrivesOptions {
  /** List system drives (holding /, /boot, swap... or the boot disk) and virtual ones too. */
  showSystem?: boolean;
  /** Defaults to process.platform. */
  platform?: NodeJS.Platform;
  /** Runs lsblk/blkid, diskutil or PowerShell; tests pass recorded outputs. */
  run?: CommandRunner;
}

export interface HiddenDrive {
  device: string;
  /** `holds /`, `boot disk`, `virtual`... */
  reasons: string[];
}

export interface DriveListing {
  /** What to show, in the tool's order; with showSystem, every drive. */
  drives: Drive[];
  /** What was held back (empty with showSystem), so a face can say how many and why. */
  hidden: HiddenDrive[];
}

/**
 * Lists the drives (see media/detect.ts for the tools per platform). System drives are hidden by
 * default, as Etcher and Raspberry Pi Imager do (prior art §0.10); virtual devices (loop, zram,
 * synthesized APFS containers) too, since nobody carries them across an air gap.
 * Throws FERRY_DRIVE_TOOL_FAILED, FERRY_DRIVE_OUTPUT_INVALID, FERRY_DRIVES_UNSUPPORTED.
 */
export async function listDrives(options: ListDrivesOptions = {}): Promise<DriveListing> {
  const detected = await detectDrives({
    ...(options.platform === undefined ? {} : { platform: options.platform }),
    ...(options.run === undefined ? {} : { run: options.run }),
  });
  if (options.showSystem === true) return { drives: detected, hidden: [] };
  return {
    drives: detected.filter((drive) => !isHiddenByDefault(drive)),
    hidden: detected
      .filter(isHiddenByDefault)
      .map((drive) => ({ device: drive.device, reasons: [...drive.systemReasons, ...(drive.virtual ? ['virtual'] : [])] })),
  };
}
