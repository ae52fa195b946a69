// The shape every platform's drive detector produces, and the rules that decide which drives are
// the running system's own. Pure: no I/O.

/** A file system on a drive: a partition, a whole-device file system, or a mapped LUKS/LVM volume. */
export interface Volume {
  /** Device node (`/dev/sdb1`, `/dev/mapper/vg-root`), macOS identifier (`disk4s1`) or Windows volume path. */
  device: string;
  /** What kind of node it is on the drive. */
  kind: 'partition' | 'whole-device' | 'crypt' | 'lvm' | 'apfs-volume' | 'volume';
  /** Bytes, or null when the tool did not say. */
  sizeBytes: number | null;
  /** The tool's file system name, lower case (`vfat`, `exfat`, `ntfs`, `ext4`, `apfs`, `crypto_luks`, `swap`...), or null. */
  fsType: string | null;
  /** The label exactly as the tool reported it: display it only through `safeText`. */
  label: string | null;
  /** Where it is mounted (`[SWAP]` for active swap on Linux; drive letters as `E:\` on Windows). */
  mountPoints: string[];
  /** Free bytes of the mounted file system, or null when it is not mounted or unknown. */
  freeBytes: number | null;
}

/** One physical (or, flagged `virtual`, loop/RAM) drive. */
export interface Drive {
  /** `/dev/sdb`, `/dev/disk4`, `\\.\PHYSICALDRIVE1`. */
  device: string;
  /** Vendor and model as the device reports them (device-controlled text: display through `safeText`). */
  model: string | null;
  /** Bytes; 0 for a reader with no medium. */
  sizeBytes: number;
  /** False for a card reader or optical drive with nothing inserted. */
  hasMedia: boolean;
  /** The bus in lower case (`usb`, `nvme`, `sata`, `sd`, `mmc`...), or null when unknown. */
  bus: string | null;
  removable: boolean;
  usb: boolean;
  /** Write-protected (a locked SD card, a read-only device). */
  readOnly: boolean;
  /** A loop, RAM or compressed-RAM device, or a macOS synthesized/disk image device. */
  virtual: boolean;
  /** Why this drive holds the running system (`holds /`, `holds swap`, `boot disk`); empty when it does not. */
  systemReasons: string[];
  volumes: Volume[];
}

/**
 * Mount points that make a Linux drive a system drive: what Raspberry Pi Imager checks (/, /usr,
 * /var, /home, /boot; drivelist_linux.cpp) plus everything under /boot (/boot/efi, /boot/firmware)
 * and active swap, which lsblk shows as `[SWAP]`.
 */
export function systemMountReason(mountPoint: string): string | null {
  if (mountPoint === '[SWAP]') return 'holds swap';
  if (['/', '/usr', '/var', '/home', '/boot'].includes(mountPoint) || mountPoint.startsWith('/boot/')) {
    return `holds ${mountPoint}`;
  }
  return null;
}

/** Drives a listing hides unless asked (`--show-system`): system drives and virtual devices. */
export function isHiddenByDefault(drive: Drive): boolean {
  return drive.systemReasons.length > 0 || drive.virtual;
}
