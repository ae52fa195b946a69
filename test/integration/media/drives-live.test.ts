import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listDrives } from '../../../src-main/engine/index.js';
import { mountExfat, mountExt4, requireDisk, unmountDisk, type MountedDisk } from '../../support/fuse-disks.js';
import { runFerry } from '../../support/run-ferry.js';

// The real detector on this machine (lsblk and blkid; Linux only) finds loop devices this test
// attaches, with their file system, label and mount point; `ferry drives` hides them (virtual)
// unless --show-system. Needs root, loop devices and FUSE; otherwise skipped, saying why.

let workDir: string;
let exfat: MountedDisk = { ok: false, kind: 'exfat', reason: 'beforeAll did not run' };
let ext4: MountedDisk = { ok: false, kind: 'ext4', reason: 'beforeAll did not run' };
const onLinux = process.platform === 'linux';

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-drives-live-'));
  if (!onLinux) return;
  exfat = await mountExfat(workDir, 'stick', 64, 'LIVE\u00c9XF');
  ext4 = await mountExt4(workDir, 'disk');
});

afterAll(async () => {
  await unmountDisk(exfat);
  await unmountDisk(ext4);
  await rm(workDir, { recursive: true, force: true });
});

describe('drive detection on this machine', () => {
  it('finds an attached exFAT loop device with its label, mount point and free space', async (context) => {
    if (!onLinux) context.skip(`the live detector test runs on Linux; this is ${process.platform}`);
    const mountPoint = requireDisk(exfat, context);
    const loopDevice = exfat.ok ? exfat.loopDevice : undefined;
    const { drives } = await listDrives({ showSystem: true });
    const loop = drives.find((drive) => drive.device === loopDevice);
    expect(loop, `${loopDevice ?? '?'} among ${drives.map((drive) => drive.device).join(', ')}`).toBeDefined();
    expect(loop?.virtual).toBe(true);
    expect(loop?.sizeBytes).toBe(64 * 1024 * 1024);
    const volume = loop?.volumes[0];
    expect([volume?.fsType, volume?.label, volume?.mountPoints]).toEqual(['exfat', 'LIVE\u00c9XF', [mountPoint]]);
    expect(volume?.freeBytes).toBeGreaterThan(60 * 1024 * 1024);
  });

  it('finds the ext4 loop device the kernel attached for mount -o loop', async (context) => {
    if (!onLinux) context.skip(`the live detector test runs on Linux; this is ${process.platform}`);
    const mountPoint = requireDisk(ext4, context);
    const { drives } = await listDrives({ showSystem: true });
    const loop = drives.find((drive) => drive.volumes.some((volume) => volume.mountPoints.includes(mountPoint)));
    expect(loop?.device).toMatch(/^\/dev\/loop\d+$/);
    expect(loop?.volumes[0]?.fsType).toBe('ext4');
    // Whatever holds / here is never listed without --show-system.
    const shown = await listDrives();
    expect(shown.drives.some((drive) => drive.volumes.some((volume) => volume.mountPoints.includes('/')))).toBe(false);
  });

  it('ferry drives hides the loop device unless --show-system, and prints it in JSON with the exact label', async (context) => {
    if (!onLinux) context.skip(`the live detector test runs on Linux; this is ${process.platform}`);
    requireDisk(exfat, context);
    const loopDevice = exfat.ok ? (exfat.loopDevice ?? '') : '';
    const hidden = await runFerry(['drives', '--json']);
    expect(hidden.code, hidden.stderr).toBe(0);
    const listing = JSON.parse(hidden.stdout) as { drives: { device: string }[]; hidden: { device: string; reasons: string[] }[] };
    expect(listing.drives.map((drive) => drive.device)).not.toContain(loopDevice);
    expect(listing.hidden).toContainEqual({ device: loopDevice, reasons: ['virtual'] });
    const all = await runFerry(['drives', '--json', '--show-system']);
    expect(all.stdout).toContain('"label": "LIVE\\u00c9XF"');
    const table = await runFerry(['drives', '--show-system']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain(loopDevice);
    expect(table.stdout).toContain('"LIVEÉXF"');
    for (const line of table.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });
});
