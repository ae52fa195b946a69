// Ejecting the drive an export was written to, with each platform's own tool, run through the same
// injectable CommandRunner as drive detection. What happened is plain data; the faces word it.
import { readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { errnoCode, isFerryError } from '../base/errors.js';
import { runCommand, type CommandResult, type CommandRunner } from './detect.js';
import { parseDiskutilInfo } from './diskutil.js';
import { systemMountReason } from './drives.js';
import { isInside, mountOf, readMounts, type Mount } from './mounts.js';
import { asString } from './plist.js';

/** A process holding a file, its working directory or its root on the drive. */
export interface DriveHolder {
  pid: number;
  /** Its command name (Linux `/proc/PID/comm`, macOS the dissenter's name); "" when unknown. */
  command: string;
}

export type EjectOutcome =
  /** Unmounted; `poweredOff` when the drive was also stopped (udisksctl power-off, diskutil eject, Windows' Eject). */
  | { kind: 'ejected'; mountPoint: string; device: string | null; poweredOff: boolean; tool: string }
  /** Something still uses the drive; `holders` are the processes found (none where the platform cannot tell). */
  | { kind: 'busy'; mountPoint: string; holders: DriveHolder[]; tool: string; message: string }
  /** The tool refused or could not run; `message` is its own (trimmed) output. */
  | { kind: 'failed'; mountPoint: string; tool: string; message: string }
  /** A folder on a system disk, a network share or a RAM disk: there is nothing to eject. */
  | { kind: 'not-a-drive'; path: string; reason: string };

export interface EjectOptions {
  /** A folder on the drive (the export's target) or its mount point; or `device` (Linux, macOS). */
  mountPoint?: string;
  device?: string;
  /** Defaults to process.platform. */
  platform?: NodeJS.Platform;
  /** Defaults to runCommand; tests pass recorded outputs. */
  run?: CommandRunner;
}

/**
 * Flushes and ejects the drive holding `mountPoint` (or `device`). Linux: `sync`, then
 * `udisksctl unmount -b DEV` and `udisksctl power-off -b DEV` (what desktop "Safely remove" does),
 * or `umount MOUNTPOINT` where udisksctl is not installed, its daemon is not running, or the mount
 * has no block device (FUSE); a busy drive names the processes holding it, found in /proc (as
 * `fuser -m` finds them). macOS: `diskutil eject` of the whole disk, whose dissenter is named.
 * Windows: Shell.Application's Eject verb (Explorer's "Eject"), then waiting for the drive letter to
 * go. Never throws for what the tools answer: the outcome says ejected, busy, failed or not-a-drive
 * (also on another platform). Throws only what reading /proc/self/mountinfo throws (Linux).
 */
export async function ejectDrive(options: EjectOptions): Promise<EjectOutcome> {
  const platform = options.platform ?? process.platform;
  const run = options.run ?? runCommand;
  const path = options.mountPoint ?? options.device ?? '';
  if (platform === 'linux') return ejectLinux(options, run);
  if (platform === 'darwin') return ejectMac(path, run);
  if (platform === 'win32') return ejectWindows(path, run);
  return { kind: 'not-a-drive', path, reason: `ejecting is not supported on ${platform}` };
}

// Linux

async function ejectLinux(options: EjectOptions, run: CommandRunner): Promise<EjectOutcome> {
  const asked = options.mountPoint ?? options.device ?? '';
  const mounts = await readMounts();
  const mount =
    options.mountPoint === undefined
      ? mounts.find((candidate) => candidate.source === options.device)
      : mountOf(mounts, await realpath(options.mountPoint).catch(() => options.mountPoint ?? ''));
  if (mount === undefined) return { kind: 'not-a-drive', path: asked, reason: 'nothing of it is mounted' };
  const system = systemMountReason(mount.mountPoint);
  if (system !== null) return { kind: 'not-a-drive', path: asked, reason: `it is on the system disk, which ${system}` };
  const device = mount.source.startsWith('/dev/') ? mount.source : null;
  // Block devices, and FUSE file systems (fusefat names no device; ntfs-3g's fuseblk does).
  if (device === null && !mount.fsType.startsWith('fuse')) {
    return { kind: 'not-a-drive', path: asked, reason: `it is on a ${mount.fsType} file system (${mount.source}), not a drive` };
  }
  await run('sync', []);
  if (device !== null) {
    const viaUdisks = await ejectWithUdisks(mount, device, run);
    if (viaUdisks !== undefined) return viaUdisks;
  }
  const unmounted = await runTool(run, 'umount', [mount.mountPoint]);
  if (unmounted.exitCode === 0) return { kind: 'ejected', mountPoint: mount.mountPoint, device, poweredOff: false, tool: 'umount' };
  return linuxRefusal(mount.mountPoint, 'umount', unmounted);
}

/** udisksctl's outcome, or undefined when it cannot be used here (not installed, no udisks daemon). */
async function ejectWithUdisks(mount: Mount, device: string, run: CommandRunner): Promise<EjectOutcome | undefined> {
  let unmounted: CommandResult;
  try {
    unmounted = await run('udisksctl', ['unmount', '-b', device]);
  } catch (error) {
    if (isFerryError(error) && errnoCode(error.cause) === 'ENOENT') return undefined;
    throw error;
  }
  if (unmounted.exitCode !== 0) {
    if (/connect(ing)? to the udisks daemon|org\.freedesktop\.DBus\.Error\.(ServiceUnknown|NoServer|FileNotFound)/i.test(unmounted.stderr)) return undefined;
    return linuxRefusal(mount.mountPoint, 'udisksctl', unmounted);
  }
  // A loop device or a disk behind a hub that cannot be stopped stays powered, but is unmounted:
  // safe to pull all the same.
  const poweredOff = (await run('udisksctl', ['power-off', '-b', device])).exitCode === 0;
  return { kind: 'ejected', mountPoint: mount.mountPoint, device, poweredOff, tool: 'udisksctl' };
}

/** runCommand throws when a program cannot be started; for eject that is a failed outcome like any other. */
async function runTool(run: CommandRunner, file: string, args: readonly string[]): Promise<CommandResult> {
  try {
    return await run(file, args);
  } catch (error) {
    return { stdout: '', stderr: error instanceof Error ? error.message : String(error), exitCode: -1 };
  }
}

// "target is busy" (umount, util-linux), "DeviceBusy" (udisks), "device is busy" (older umount).
const LINUX_BUSY = /target is busy|device is busy|DeviceBusy/i;

async function linuxRefusal(mountPoint: string, tool: string, result: CommandResult): Promise<EjectOutcome> {
  const message = toolMessage(result);
  if (!LINUX_BUSY.test(message)) return { kind: 'failed', mountPoint, tool, message };
  return { kind: 'busy', mountPoint, holders: await processesHolding(mountPoint), tool, message };
}

/**
 * Processes with a file descriptor, working directory or root under `mountPoint`, read from
 * /proc as `fuser -m` reads it. Processes that end or cannot be read meanwhile are skipped.
 */
export async function processesHolding(mountPoint: string): Promise<DriveHolder[]> {
  const holders: DriveHolder[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
    const links = ['cwd', 'root', ...fds.map((fd) => `fd/${fd}`)];
    const targets = await Promise.all(links.map((link) => readlink(`/proc/${pid}/${link}`).catch(() => '')));
    if (!targets.some((target) => target !== '' && isInside(target, mountPoint))) continue;
    const command = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
    holders.push({ pid: Number(pid), command });
  }
  return holders;
}

function toolMessage(result: CommandResult): string {
  return `${result.stderr}\n${result.stdout}`.trim().slice(0, 500);
}

// macOS

async function ejectMac(path: string, run: CommandRunner): Promise<EjectOutcome> {
  const info = await runTool(run, 'diskutil', ['info', '-plist', path]);
  if (info.exitCode !== 0) return { kind: 'not-a-drive', path, reason: `diskutil knows no disk there (${toolMessage(info)})` };
  const disk = parseDiskutilInfo(info.stdout);
  const mountPoint = asString(disk['MountPoint']) ?? path;
  const wholeDisk = asString(disk['ParentWholeDisk']) ?? asString(disk['DeviceIdentifier']);
  const ejectable = disk['Ejectable'] === true || disk['RemovableMedia'] === true || disk['Removable'] === true || disk['Internal'] === false;
  if (mountPoint === '/' || wholeDisk === null || !ejectable) {
    return { kind: 'not-a-drive', path, reason: `${mountPoint} is on an internal disk` };
  }
  const ejected = await runTool(run, 'diskutil', ['eject', wholeDisk]);
  if (ejected.exitCode === 0) return { kind: 'ejected', mountPoint, device: `/dev/${wholeDisk}`, poweredOff: true, tool: 'diskutil' };
  return macRefusal(mountPoint, ejected);
}

/**
 * diskutil names the process that refused ("dissented") the unmount: `dissented by PID 812
 * (/usr/bin/vim)` or `Dissenter parent PPID 1 (launchd) PID 812 (vim)`.
 */
function macRefusal(mountPoint: string, result: CommandResult): EjectOutcome {
  const message = toolMessage(result);
  const holders: DriveHolder[] = [];
  for (const match of message.matchAll(/(?<!P)PID (\d+) \(([^)]*)\)/g)) {
    const pid = Number(match[1]);
    if (!holders.some((holder) => holder.pid === pid)) holders.push({ pid, command: match[2] ?? '' });
  }
  if (holders.length > 0 || /\bbusy\b|dissent/i.test(message)) return { kind: 'busy', mountPoint, holders, tool: 'diskutil', message };
  return { kind: 'failed', mountPoint, tool: 'diskutil', message };
}

// Windows

/**
 * Explorer's Eject on the drive letter, then up to 10 s for Windows to let the letter go. The
 * verb answers nothing itself (a busy drive shows the user a dialog), so the letter still being
 * there is the refusal. One JSON line: {"result": "ejected" | "busy" | "system" | "missing" | "error", "message"?}.
 */
export function windowsEjectScript(letter: string): string {
  return [
    "$ErrorActionPreference = 'Stop'",
    'try {',
    `  $drive = '${letter}:'`,
    "  if ($env:SystemDrive -eq $drive) { '{\"result\":\"system\"}'; exit 0 }",
    '  $item = (New-Object -ComObject Shell.Application).Namespace(17).ParseName($drive)',
    "  if ($null -eq $item) { '{\"result\":\"missing\"}'; exit 0 }",
    "  $item.InvokeVerb('Eject')",
    '  for ($i = 0; $i -lt 20; $i++) {',
    '    Start-Sleep -Milliseconds 500',
    "    if (-not (Test-Path ($drive + '\\'))) { '{\"result\":\"ejected\"}'; exit 0 }",
    '  }',
    "  '{\"result\":\"busy\"}'",
    '} catch {',
    "  @{ result = 'error'; message = $_.Exception.Message } | ConvertTo-Json -Compress",
    '}',
  ].join('\n');
}

async function ejectWindows(path: string, run: CommandRunner): Promise<EjectOutcome> {
  const letter = /^([A-Za-z]):(?:[\\/]|$)/.exec(path)?.[1]?.toUpperCase();
  if (letter === undefined) return { kind: 'not-a-drive', path, reason: 'it has no drive letter (a network share or a folder mounted elsewhere)' };
  const mountPoint = `${letter}:\\`;
  const result = await runTool(run, 'powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', windowsEjectScript(letter)]);
  const answer = parseWindowsAnswer(result.stdout);
  switch (answer.result) {
    case 'ejected':
      return { kind: 'ejected', mountPoint, device: null, poweredOff: true, tool: 'powershell' };
    case 'system':
      return { kind: 'not-a-drive', path, reason: `${letter}: is the system drive` };
    case 'missing':
      return { kind: 'not-a-drive', path, reason: `Windows lists no drive ${letter}:` };
    case 'busy':
      return { kind: 'busy', mountPoint, holders: [], tool: 'powershell', message: `drive ${letter}: was still there 10 s after Eject` };
    default:
      return { kind: 'failed', mountPoint, tool: 'powershell', message: answer.message ?? toolMessage(result) };
  }
}

function parseWindowsAnswer(stdout: string): { result: string; message?: string } {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value === 'object' && value !== null && 'result' in value && typeof value.result === 'string') {
      const message = 'message' in value && typeof value.message === 'string' ? value.message : undefined;
      return message === undefined ? { result: value.result } : { result: value.result, message };
    }
  } catch {
    // Not our JSON line: PowerShell itself failed; its output is the message.
  }
  return { result: 'error' };
}
