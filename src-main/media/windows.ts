// Windows: the drive list from the Storage module's Get-Disk, Get-Partition and Get-Volume, printed
// by one PowerShell call as JSON. Enumerations are converted to their names in the script, because
// ConvertTo-Json writes them as numbers. Pure parser; detect.ts runs PowerShell.
import { FerryError } from '../base/errors.js';
import type { Drive, Volume } from './drives.js';

/** The script passed to `powershell.exe -NoProfile -NonInteractive -Command`. */
export const WINDOWS_STORAGE_SCRIPT = [
  "$ErrorActionPreference = 'Stop'",
  '[Console]::OutputEncoding = [System.Text.Encoding]::UTF8',
  "$disks = @(Get-Disk | Select-Object Number, FriendlyName, Size, IsReadOnly, IsBoot, IsSystem, @{n='BusType';e={[string]$_.BusType}}, @{n='OperationalStatus';e={[string]$_.OperationalStatus}})",
  "$partitions = @(Get-Partition | Select-Object DiskNumber, PartitionNumber, Size, AccessPaths, @{n='DriveLetter';e={[string]$_.DriveLetter}})",
  "$volumes = @(Get-Volume | Select-Object Path, FileSystemLabel, FileSystem, Size, SizeRemaining, @{n='DriveType';e={[string]$_.DriveType}})",
  'ConvertTo-Json -Depth 4 -Compress:$false -InputObject @{ disks = $disks; partitions = $partitions; volumes = $volumes }',
].join('; ');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Row = { [key: string]: Json };

function isRow(value: Json | undefined): value is Row {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ConvertTo-Json writes a one-element collection as the element itself in some PowerShell versions.
function rows(value: Json | undefined): Row[] {
  if (Array.isArray(value)) return value.filter(isRow);
  return isRow(value) ? [value] : [];
}

function text(row: Row, key: string): string | null {
  const value = row[key];
  // A partition without a drive letter has the character 0, which becomes "\u0000" as a string.
  return typeof value === 'string' && value !== '' && value !== '\u0000' ? value : null;
}

function number(row: Row, key: string): number | null {
  const value = row[key];
  return typeof value === 'number' ? value : null;
}

function strings(value: Json | undefined): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

const REMOVABLE_BUSES = new Set(['usb', 'sd', 'mmc']);

/**
 * Parses the JSON printed by WINDOWS_STORAGE_SCRIPT into drives (`\\.\PHYSICALDRIVE<n>`). A
 * partition's volume is the one whose `\\?\Volume{…}\` path is among the partition's access paths;
 * its other access paths (`E:\`, folder mounts) are its mount points. System drives: IsBoot (holds
 * the running Windows) or IsSystem (holds the system/EFI partition). Throws FERRY_DRIVE_OUTPUT_INVALID.
 */
export function parseWindowsStorage(output: string): Drive[] {
  let parsed: Json;
  try {
    // PowerShell 5.1 may start UTF-8 output with a byte order mark.
    parsed = JSON.parse(output.replace(/^\uFEFF/, '')) as Json;
  } catch (error) {
    throw new FerryError('FERRY_DRIVE_OUTPUT_INVALID', 'PowerShell printed something that is not JSON.', {
      cause: error,
      actual: output.slice(0, 200),
    });
  }
  if (!isRow(parsed) || !('disks' in parsed)) {
    throw new FerryError('FERRY_DRIVE_OUTPUT_INVALID', 'PowerShell output has no "disks" list.', { actual: output.slice(0, 200) });
  }
  const volumesByPath = new Map(rows(parsed.volumes).map((volume) => [text(volume, 'Path') ?? '', volume]));
  const partitions = rows(parsed.partitions);
  return rows(parsed.disks).map((disk) => {
    const diskNumber = number(disk, 'Number');
    const bus = text(disk, 'BusType')?.toLowerCase() ?? null;
    const sizeBytes = number(disk, 'Size') ?? 0;
    const volumes: Volume[] = partitions
      .filter((partition) => number(partition, 'DiskNumber') === diskNumber)
      .map((partition) => {
        const accessPaths = strings(partition.AccessPaths);
        const volumePath = accessPaths.find((path) => volumesByPath.has(path));
        const volume = volumePath === undefined ? undefined : volumesByPath.get(volumePath);
        const fsType = volume === undefined ? null : text(volume, 'FileSystem');
        const mounted = accessPaths.filter((path) => !path.startsWith('\\\\?\\'));
        return {
          device: volumePath ?? `\\\\.\\PHYSICALDRIVE${diskNumber ?? '?'}\\Partition${number(partition, 'PartitionNumber') ?? '?'}`,
          kind: 'partition',
          sizeBytes: number(partition, 'Size'),
          fsType: fsType === null ? null : fsType.toLowerCase(),
          label: volume === undefined ? null : text(volume, 'FileSystemLabel'),
          mountPoints: mounted,
          freeBytes: volume === undefined || mounted.length === 0 ? null : number(volume, 'SizeRemaining'),
        };
      });
    const removableVolume = volumes.some((volume) => {
      const row = volumesByPath.get(volume.device);
      return row !== undefined && text(row, 'DriveType') === 'Removable';
    });
    const systemReasons: string[] = [];
    if (disk.IsBoot === true) systemReasons.push('boot disk');
    if (disk.IsSystem === true) systemReasons.push('holds the system partition');
    return {
      device: `\\\\.\\PHYSICALDRIVE${diskNumber ?? '?'}`,
      model: text(disk, 'FriendlyName')?.trim() ?? null,
      sizeBytes,
      hasMedia: sizeBytes > 0 && text(disk, 'OperationalStatus') !== 'No Media',
      bus,
      removable: removableVolume || (bus !== null && REMOVABLE_BUSES.has(bus)),
      usb: bus === 'usb',
      readOnly: disk.IsReadOnly === true,
      virtual: bus === 'file backed virtual',
      systemReasons,
      volumes,
    };
  });
}
