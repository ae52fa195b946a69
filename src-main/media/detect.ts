// Runs the platform's own tools and hands their output to the pure parsers. The runner is a
// parameter so that tests feed recorded outputs through exactly this code.
import { execFile } from 'node:child_process';
import { FerryError, describeError } from '../base/errors.js';
import type { Drive } from './drives.js';
import { drivesFromDiskutil, parseDiskutilInfo, parseDiskutilList } from './diskutil.js';
import { LSBLK_COLUMNS, devicesToProbe, parseBlkidUdev, parseLsblk, withProbes, type BlkidProbe } from './lsblk.js';
import type { PlistDict } from './plist.js';
import { WINDOWS_STORAGE_SCRIPT, parseWindowsStorage } from './windows.js';

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs a program without a shell; resolves with its exit code (a non-zero exit is an answer, not a throw). */
export type CommandRunner = (file: string, args: readonly string[]) => Promise<CommandResult>;

const TOOL_TIMEOUT_MS = 30_000;

/**
 * The real runner: execFile, UTF-8, 30 s limit. Throws FERRY_DRIVE_TOOL_FAILED when the program
 * cannot be started (not installed) or does not finish in time.
 */
export const runCommand: CommandRunner = (file, args) =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], { encoding: 'utf8', timeout: TOOL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, windowsHide: true }, (error, stdout, stderr) => {
      if (error === null) {
        resolve({ stdout, stderr, exitCode: 0 });
        return;
      }
      if (typeof error.code === 'number') {
        resolve({ stdout, stderr, exitCode: error.code });
        return;
      }
      reject(
        new FerryError('FERRY_DRIVE_TOOL_FAILED', `Could not run ${file} to list drives: ${describeError(error)}.`, {
          cause: error,
          hint: error.killed ? `${file} did not answer within ${TOOL_TIMEOUT_MS / 1000} s.` : `Check that ${file} is installed and on PATH.`,
        }),
      );
    });
  });

async function mustSucceed(run: CommandRunner, file: string, args: readonly string[]): Promise<string> {
  const result = await run(file, args);
  if (result.exitCode !== 0) {
    throw new FerryError('FERRY_DRIVE_TOOL_FAILED', `${file} ${args.join(' ')} failed (exit ${result.exitCode}).`, {
      actual: result.stderr.trim().slice(0, 500),
    });
  }
  return result.stdout;
}

async function detectLinux(run: CommandRunner): Promise<Drive[]> {
  const args = ['--json', '--bytes', '--output', LSBLK_COLUMNS];
  let listed = await run('lsblk', args);
  if (listed.exitCode !== 0 && /unknown column/i.test(listed.stderr)) {
    // util-linux before 2.37 has MOUNTPOINT (one) but not MOUNTPOINTS.
    listed = await run('lsblk', ['--json', '--bytes', '--output', LSBLK_COLUMNS.replace('MOUNTPOINTS', 'MOUNTPOINT')]);
  }
  if (listed.exitCode !== 0) {
    throw new FerryError('FERRY_DRIVE_TOOL_FAILED', `lsblk failed (exit ${listed.exitCode}).`, { actual: listed.stderr.trim().slice(0, 500) });
  }
  const drives = parseLsblk(listed.stdout);
  // Without a udev database (containers, minimal systems) lsblk knows no file system types or
  // labels; blkid reads them from the device itself. It exits 2 when it finds nothing and fails
  // without permission to read the device: both leave the type unknown.
  const probes = new Map<string, BlkidProbe>();
  for (const device of devicesToProbe(drives)) {
    const probed = await run('blkid', ['-p', '-o', 'udev', device]);
    if (probed.exitCode === 0) probes.set(device, parseBlkidUdev(probed.stdout));
  }
  return withProbes(drives, probes);
}

async function detectMac(run: CommandRunner): Promise<Drive[]> {
  const list = parseDiskutilList(await mustSucceed(run, 'diskutil', ['list', '-plist']));
  const info = new Map<string, PlistDict>();
  for (const id of list.wholeDisks.flatMap((disk) => [disk.id, ...disk.volumes, ...disk.physicalStores])) {
    if (!info.has(id)) info.set(id, parseDiskutilInfo(await mustSucceed(run, 'diskutil', ['info', '-plist', id])));
  }
  const boot = parseDiskutilInfo(await mustSucceed(run, 'diskutil', ['info', '-plist', '/']));
  return drivesFromDiskutil(list, info, boot);
}

async function detectWindows(run: CommandRunner): Promise<Drive[]> {
  const output = await mustSucceed(run, 'powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', WINDOWS_STORAGE_SCRIPT]);
  return parseWindowsStorage(output);
}

export interface DetectOptions {
  /** Defaults to process.platform. */
  platform?: NodeJS.Platform;
  /** Defaults to runCommand; tests pass recorded outputs. */
  run?: CommandRunner;
}

/**
 * Every drive on this machine with its volumes: lsblk + blkid on Linux, diskutil on macOS,
 * PowerShell's Storage module on Windows (see docs/ARCHITECTURE.md for why not drivelist).
 * Throws FERRY_DRIVE_TOOL_FAILED (a tool missing or failing), FERRY_DRIVE_OUTPUT_INVALID (its
 * output not understood), FERRY_DRIVES_UNSUPPORTED (another platform).
 */
export async function detectDrives(options: DetectOptions = {}): Promise<Drive[]> {
  const platform = options.platform ?? process.platform;
  const run = options.run ?? runCommand;
  if (platform === 'linux') return detectLinux(run);
  if (platform === 'darwin') return detectMac(run);
  if (platform === 'win32') return detectWindows(run);
  throw new FerryError('FERRY_DRIVES_UNSUPPORTED', `Listing drives is not supported on ${platform}.`, {
    hint: 'Export to a folder instead (any mounted drive is a folder).',
  });
}
