// macOS: the drive list from `diskutil list -plist`, with `diskutil info -plist` for each disk and
// volume (model, bus, removable, writable, file system, label, mount point, free space) and for `/`
// (the boot volume, whose whole disk and APFS physical stores are the system drives). Pure parsers;
// detect.ts runs diskutil.
import type { Drive, Volume } from './drives.js';
import { asArray, asDict, asNumber, asString, parsePlist, type PlistDict } from './plist.js';

/** The identifiers `diskutil list -plist` names: whole disks, and the volumes of each. */
export interface DiskutilList {
  wholeDisks: { id: string; volumes: string[]; physicalStores: string[] }[];
}

/** Parses `diskutil list -plist`. Throws FERRY_DRIVE_OUTPUT_INVALID when it is not a property list. */
export function parseDiskutilList(xml: string): DiskutilList {
  const root = asDict(parsePlist(xml));
  const wholeDisks = asArray(root.AllDisksAndPartitions).map((entry) => {
    const disk = asDict(entry);
    const ids = (key: string): string[] =>
      asArray(disk[key])
        .map((item) => asString(asDict(item).DeviceIdentifier))
        .filter((id) => id !== null);
    return {
      id: asString(disk.DeviceIdentifier) ?? '',
      volumes: [...ids('Partitions'), ...ids('APFSVolumes')],
      physicalStores: ids('APFSPhysicalStores'),
    };
  });
  return { wholeDisks: wholeDisks.filter((disk) => disk.id !== '') };
}

/** Parses one `diskutil info -plist TARGET` answer into a dict (keys as diskutil names them). */
export function parseDiskutilInfo(xml: string): PlistDict {
  return asDict(parsePlist(xml));
}

function flag(info: PlistDict, ...keys: string[]): boolean {
  return keys.some((key) => info[key] === true);
}

function volumeOf(id: string, info: PlistDict, kind: Volume['kind']): Volume {
  const mountPoint = asString(info.MountPoint);
  const fsType = asString(info.FilesystemType);
  const label = asString(info.VolumeName);
  const mounted = mountPoint !== null && mountPoint !== '';
  return {
    device: id,
    kind,
    sizeBytes: asNumber(info.Size) ?? asNumber(info.TotalSize),
    fsType: fsType === null || fsType === '' ? null : fsType.toLowerCase(),
    label: label === null || label === '' ? null : label,
    mountPoints: mounted ? [mountPoint] : [],
    freeBytes: mounted ? (asNumber(info.FreeSpace) ?? asNumber(info.APFSContainerFree)) : null,
  };
}

/**
 * Builds the drive list from `diskutil list -plist`, the `diskutil info -plist` answers by
 * identifier (`info.get('disk4s1')`), and the answer for `/`. System drives: the whole disk of the
 * boot volume and the whole disks holding its APFS container's physical stores (the internal SSD
 * behind the synthesized container). Synthesized containers and disk images are virtual.
 */
export function drivesFromDiskutil(list: DiskutilList, info: ReadonlyMap<string, PlistDict>, boot: PlistDict): Drive[] {
  const bootWhole = asString(boot.ParentWholeDisk);
  const bootContainer = list.wholeDisks.find((disk) => disk.id === bootWhole);
  const storeDisks = new Set(
    (bootContainer?.physicalStores ?? []).map((store) => asString(info.get(store)?.ParentWholeDisk) ?? store.replace(/s\d+$/, '')),
  );
  return list.wholeDisks.map((disk) => {
    const details = info.get(disk.id) ?? asDict(undefined);
    const synthesized = disk.physicalStores.length > 0;
    let volumes = disk.volumes.map((id) => volumeOf(id, info.get(id) ?? asDict(undefined), synthesized ? 'apfs-volume' : 'partition'));
    const own = volumeOf(disk.id, details, 'whole-device');
    if (volumes.length === 0 && own.fsType !== null) volumes = [own];
    const bus = asString(details.BusProtocol);
    const sizeBytes = asNumber(details.Size) ?? asNumber(details.TotalSize) ?? 0;
    const systemReasons: string[] = [];
    if (disk.id === bootWhole) systemReasons.push('boot disk');
    if (storeDisks.has(disk.id)) systemReasons.push('holds the boot volume');
    return {
      device: asString(details.DeviceNode) ?? `/dev/${disk.id}`,
      model: asString(details.MediaName)?.trim() || null,
      sizeBytes,
      hasMedia: sizeBytes > 0,
      bus: bus === null ? null : bus.toLowerCase(),
      removable: flag(details, 'Removable', 'RemovableMedia', 'Ejectable') || details.Internal === false,
      usb: bus === 'USB',
      readOnly: details.WritableMedia === false,
      virtual: synthesized || asString(details.VirtualOrPhysical) === 'Virtual',
      systemReasons,
      volumes,
    };
  });
}
