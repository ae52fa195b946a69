// Linux: the drive list from `lsblk --json --bytes` (util-linux), completed by `blkid -p -o udev`
// where lsblk has no file system type or label (no udev database, as in containers). Pure parsers
// over the tools' text; running them is detect.ts's job.
import { FerryError } from '../base/errors.js';
import { systemMountReason, type Drive, type Volume } from './drives.js';

/** The columns detect.ts asks for (MOUNTPOINTS needs util-linux 2.37; older ones get MOUNTPOINT). */
export const LSBLK_COLUMNS = 'NAME,KNAME,PATH,TYPE,SIZE,RM,RO,TRAN,VENDOR,MODEL,FSTYPE,LABEL,MOUNTPOINTS,FSAVAIL,PKNAME,HOTPLUG';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Node = { [key: string]: Json };

function isNode(value: Json | undefined): value is Node {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// lsblk's JSON changed over the years: util-linux 2.33 printed every value as a string ("1",
// "16008609792"); 2.34 and later print numbers and booleans. Both are read.
function text(node: Node, key: string): string | null {
  const value = node[key];
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return null;
}

function count(node: Node, key: string): number | null {
  const value = node[key];
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  return null;
}

function flag(node: Node, key: string): boolean {
  const value = node[key];
  return value === true || value === 1 || value === '1';
}

function mountPointsOf(node: Node): string[] {
  const many = node.mountpoints;
  if (Array.isArray(many)) return many.filter((entry): entry is string => typeof entry === 'string' && entry !== '');
  const one = text(node, 'mountpoint');
  return one === null || one === '' ? [] : [one];
}

function childrenOf(node: Node): Node[] {
  const children = node.children;
  return Array.isArray(children) ? children.filter(isNode) : [];
}

function devicePath(node: Node): string {
  const path = text(node, 'path');
  if (path !== null) return path;
  const name = text(node, 'name') ?? '';
  if (name.startsWith('/')) return name;
  const type = text(node, 'type');
  return type === 'crypt' || type === 'lvm' ? `/dev/mapper/${name}` : `/dev/${name}`;
}

function volumeKind(type: string | null): Volume['kind'] {
  if (type === 'part') return 'partition';
  if (type === 'crypt') return 'crypt';
  if (type === 'lvm') return 'lvm';
  return 'volume';
}

function volumeOf(node: Node, kind: Volume['kind']): Volume {
  const fsType = text(node, 'fstype');
  return {
    device: devicePath(node),
    kind,
    sizeBytes: count(node, 'size'),
    fsType: fsType === null ? null : fsType.toLowerCase(),
    label: text(node, 'label'),
    mountPoints: mountPointsOf(node),
    freeBytes: count(node, 'fsavail'),
  };
}

/** Every node under `node`, depth first (a logical volume spanning two partitions is listed once). */
function descendants(node: Node): Node[] {
  return childrenOf(node).flatMap((child) => [child, ...descendants(child)]);
}

// eMMC hardware boot areas and replay-protected blocks: lsblk lists them as disks, nobody writes to them.
const EMMC_SPECIAL = /^mmcblk\d+(boot\d+|rpmb)$/;

function busOf(node: Node, name: string): string | null {
  const tran = text(node, 'tran');
  if (tran !== null && tran.trim() !== '') return tran.trim().toLowerCase();
  if (name.startsWith('nvme')) return 'nvme';
  if (name.startsWith('mmcblk')) return 'mmc';
  return null;
}

function driveOf(node: Node): Drive | null {
  const type = text(node, 'type');
  const name = (text(node, 'kname') ?? text(node, 'name') ?? '').replace(/^\/dev\//, '');
  if ((type !== 'disk' && type !== 'loop') || EMMC_SPECIAL.test(name)) return null;
  const sizeBytes = count(node, 'size') ?? 0;
  const below = descendants(node);
  const volumes: Volume[] = [];
  const seen = new Set<string>();
  for (const child of below) {
    const volume = volumeOf(child, volumeKind(text(child, 'type')));
    if (seen.has(volume.device)) continue;
    seen.add(volume.device);
    volumes.push(volume);
  }
  const own = volumeOf(node, 'whole-device');
  if (volumes.length === 0 && (own.fsType !== null || own.mountPoints.length > 0)) volumes.push(own);
  const mountPoints = [...mountPointsOf(node), ...below.flatMap(mountPointsOf)];
  const systemReasons = [...new Set(mountPoints.map(systemMountReason).filter((reason) => reason !== null))];
  const model = [text(node, 'vendor'), text(node, 'model')]
    .map((part) => (part ?? '').trim())
    .filter((part) => part !== '')
    .join(' ');
  const bus = busOf(node, name);
  return {
    device: devicePath(node),
    model: model === '' ? null : model,
    sizeBytes,
    hasMedia: sizeBytes > 0,
    bus,
    removable: flag(node, 'rm') || flag(node, 'hotplug'),
    usb: bus === 'usb',
    readOnly: flag(node, 'ro'),
    virtual: type === 'loop' || /^z?ram\d/.test(name),
    systemReasons,
    volumes,
  };
}

/**
 * Parses `lsblk --json --bytes` output (any column set that includes NAME and TYPE; `-O` works)
 * into drives: disks and loop devices with their partitions and LUKS/LVM volumes. Optical drives
 * (`rom`) and eMMC boot areas are left out. A drive is a system drive when it or anything below it
 * (partition, crypt, lvm) is mounted at a system mount point (see `systemMountReason`).
 * Throws FERRY_DRIVE_OUTPUT_INVALID when the text is not lsblk's JSON.
 */
export function parseLsblk(output: string): Drive[] {
  let parsed: Json;
  try {
    parsed = JSON.parse(output) as Json;
  } catch (error) {
    throw new FerryError('FERRY_DRIVE_OUTPUT_INVALID', 'lsblk printed something that is not JSON.', {
      cause: error,
      actual: output.slice(0, 200),
    });
  }
  const devices = isNode(parsed) ? parsed.blockdevices : undefined;
  if (!Array.isArray(devices)) {
    throw new FerryError('FERRY_DRIVE_OUTPUT_INVALID', 'lsblk output has no "blockdevices" list.', {
      actual: output.slice(0, 200),
    });
  }
  return devices.filter(isNode).map(driveOf).filter((drive) => drive !== null);
}

/** What `blkid -p -o udev DEVICE` found on one device. */
export interface BlkidProbe {
  fsType: string | null;
  label: string | null;
}

/**
 * Parses `blkid -p -o udev` for one device. The label is taken from ID_FS_LABEL_ENC, where blkid
 * writes unsafe bytes (newline, space, backslash...) as `\xHH`, and decoded back to the exact label;
 * the plain `-o export` format prints a newline in a label raw, so a label could forge a line.
 */
export function parseBlkidUdev(output: string): BlkidProbe {
  const values = new Map<string, string>();
  for (const line of output.split('\n')) {
    const equals = line.indexOf('=');
    if (equals > 0) values.set(line.slice(0, equals), line.slice(equals + 1));
  }
  const encoded = values.get('ID_FS_LABEL_ENC');
  const label = encoded === undefined ? (values.get('ID_FS_LABEL') ?? null) : decodeUdevEscapes(encoded);
  const fsType = values.get('ID_FS_TYPE');
  return { fsType: fsType === undefined || fsType === '' ? null : fsType.toLowerCase(), label };
}

function decodeUdevEscapes(encoded: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(encoded, 'utf8');
  for (let index = 0; index < raw.length; index += 1) {
    const byte = raw[index] ?? 0;
    const hex = raw.subarray(index + 2, index + 4).toString('latin1');
    if (byte === 0x5c && raw[index + 1] === 0x78 && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      index += 3;
    } else {
      bytes.push(byte);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The devices worth probing with blkid: media without a known file system type. */
export function devicesToProbe(drives: readonly Drive[]): string[] {
  return drives.flatMap((drive) => {
    if (!drive.hasMedia) return [];
    if (drive.volumes.length === 0) return [drive.device];
    return drive.volumes.filter((volume) => volume.fsType === null).map((volume) => volume.device);
  });
}

/** Fills in file system types and labels found by blkid (by device node), adding whole-device file systems. */
export function withProbes(drives: readonly Drive[], probes: ReadonlyMap<string, BlkidProbe>): Drive[] {
  return drives.map((drive) => {
    const whole = probes.get(drive.device);
    if (drive.volumes.length === 0 && whole?.fsType != null) {
      const volume: Volume = { device: drive.device, kind: 'whole-device', sizeBytes: drive.sizeBytes, fsType: whole.fsType, label: whole.label, mountPoints: [], freeBytes: null };
      return { ...drive, volumes: [volume] };
    }
    const volumes = drive.volumes.map((volume) => {
      const probe = probes.get(volume.device);
      if (volume.fsType !== null || probe === undefined) return volume;
      return { ...volume, fsType: probe.fsType, label: volume.label ?? probe.label };
    });
    return { ...drive, volumes };
  });
}
