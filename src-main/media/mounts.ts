// The Linux mount table, read once for both users: the export's target inspection (which file
// system a folder is on) and eject (which mount a drive's folder is).
import { readFile } from 'node:fs/promises';

export interface Mount {
  mountPoint: string;
  fsType: string;
  /** The mount source: a device such as /dev/sdb1, or a name (`fusefat`, `tmpfs`). */
  source: string;
}

/**
 * `/proc/self/mountinfo` (proc(5)): "id parent major:minor root mountpoint options [optional
 * fields...] - fstype source superoptions"; paths have space, tab, newline and backslash escaped as
 * \ooo octal, undone here. Lines of another shape are skipped.
 */
export function parseMountinfo(text: string): Mount[] {
  const unescape = (field: string): string => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  return text.split('\n').flatMap((line) => {
    const [before, after] = line.split(' - ');
    const fields = before?.split(' ') ?? [];
    const [fsType, source] = after?.split(' ') ?? [];
    const mountPoint = fields[4];
    if (mountPoint === undefined || fsType === undefined || source === undefined) return [];
    return [{ mountPoint: unescape(mountPoint), fsType, source: unescape(source) }];
  });
}

/** This process's mounts (Linux). Throws what reading /proc/self/mountinfo throws. */
export async function readMounts(): Promise<Mount[]> {
  return parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** The mount a path lies on: the longest mount point containing it, the last mounted where several share it. */
export function mountOf(mounts: readonly Mount[], path: string): Mount | undefined {
  let best: Mount | undefined;
  for (const mount of mounts) {
    if (!isInside(path, mount.mountPoint)) continue;
    if (best === undefined || mount.mountPoint.length >= best.mountPoint.length) best = mount;
  }
  return best;
}

/** Whether `path` is `folder` or below it. */
export function isInside(path: string, folder: string): boolean {
  return path === folder || path.startsWith(folder === '/' ? '/' : `${folder}/`);
}
