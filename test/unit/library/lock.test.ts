import { lstat, readFile, readdir, readlink, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOCK_FILE_NAME, lockLibrary, refuseWhileLocked } from '../../../src-main/library/lock.js';
import { TempArea } from '../../../src-main/library/temp-area.js';
import { expectFerryError } from '../../support/expect-ferry-error.js';
import { deadPid, sha256Hex, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();

/** Who the lock names, read as an operator would: the symbolic link's target, or a lock file's JSON. */
async function lockRecord(dir: string): Promise<Record<string, unknown>> {
  const path = join(dir, LOCK_FILE_NAME);
  if (!(await lstat(path)).isSymbolicLink()) return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  const [prefix, pid, job, sinceMs, token] = (await readlink(path)).split(':');
  expect(prefix).toBe('ferry-lock');
  return { pid: Number(pid), job, since: new Date(Number(sinceMs)).toISOString(), token };
}

describe('lockLibrary', () => {
  it('lets one job at a time write a library and names the holder to the next', async () => {
    const dir = await tempDir();
    const lock = await lockLibrary(dir, 'sync', () => new Date('2025-01-02T03:04:05.000Z'));
    // A symbolic link: created whole by one call, and its target needs no data block on a full disk.
    expect((await lstat(join(dir, LOCK_FILE_NAME))).isSymbolicLink()).toBe(true);
    expect(await lockRecord(dir)).toMatchObject({ pid: process.pid, job: 'sync', since: '2025-01-02T03:04:05.000Z' });

    const error = await expectFerryError(lockLibrary(dir, 'gc'), 'FERRY_LIBRARY_BUSY');
    expect(error.message).toContain(`in use by a Stream Ferry sync job (pid ${process.pid}, since 2025-01-02T03:04:05.000Z)`);
    expect(error.hint).toContain(join(dir, LOCK_FILE_NAME));

    await lock.release();
    await lock.release();
    const next = await lockLibrary(dir, 'gc');
    await next.release();
    // Nothing was ever written beside it.
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses readers at once while a live job holds the lock, and not once it is gone', async () => {
    const dir = await tempDir();
    await expect(refuseWhileLocked(dir, 'The library')).resolves.toBeUndefined();
    const lock = await lockLibrary(dir, 'sync', () => new Date('2025-01-02T03:04:05.000Z'));
    const error = await expectFerryError(refuseWhileLocked(dir, 'The library'), 'FERRY_LIBRARY_BUSY');
    expect(error.message).toBe(`The library ${dir} is in use by a Stream Ferry sync job (pid ${process.pid}, since 2025-01-02T03:04:05.000Z); its catalog cannot be read while that job runs.`);
    expect(error.hint).toBe('Try again when it ends.');
    await lock.release();
    // A lock left by a process that is gone (kill -9) holds nothing: the catalog is readable.
    await symlink(`ferry-lock:${deadPid()}:sync:0:0123456789abcdef`, join(dir, LOCK_FILE_NAME));
    await expect(refuseWhileLocked(dir, 'The library')).resolves.toBeUndefined();
  });

  it('takes over a lock whose process is gone', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, LOCK_FILE_NAME), JSON.stringify({ pid: deadPid(), job: 'sync', since: 'then', token: 'old' }));
    const lock = await lockLibrary(dir, 'gc');
    expect(await lockRecord(dir)).toMatchObject({ job: 'gc', pid: process.pid });
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes over a stale lock of its own format, and removes what killed lockers left beside it', async () => {
    const dir = await tempDir();
    const dead = deadPid();
    await symlink(`ferry-lock:${dead}:gc:1735689600000:0123456789abcdef`, join(dir, LOCK_FILE_NAME));
    // A draft of an earlier version, killed or refused (disk full) before its link(), and a stale
    // lock moved aside by a locker killed before deleting it; a live process's draft stays.
    const leftovers = [`lock.${dead}.0123456789abcdef.tmp`, `lock.${dead}.fedcba9876543210.stale`];
    const live = `lock.${process.ppid}.00112233445566ff.tmp`;
    for (const name of [...leftovers, live]) await writeFile(join(dir, name), '{}');
    const lock = await lockLibrary(dir, 'sync');
    expect(await lockRecord(dir)).toMatchObject({ job: 'sync', pid: process.pid });
    expect((await readdir(dir)).sort()).toEqual([LOCK_FILE_NAME, live].sort());
    await lock.release();
    expect(await readdir(dir)).toEqual([live]);
  });

  it('waits out an unreadable lock while it may still be being written, then takes it over', async () => {
    const dir = await tempDir();
    const lockFile = join(dir, LOCK_FILE_NAME);
    await writeFile(lockFile, '');
    await expectFerryError(lockLibrary(dir, 'sync'), 'FERRY_LIBRARY_BUSY');

    const aMinuteAgo = new Date(Date.now() - 60_000);
    await utimes(lockFile, aMinuteAgo, aMinuteAgo);
    const lock = await lockLibrary(dir, 'sync');
    expect(lock.holder.job).toBe('sync');
    await lock.release();
  });

  it('leaves a lock alone that another job took over after this one was judged stale', async () => {
    const dir = await tempDir();
    const lock = await lockLibrary(dir, 'sync');
    const successor = { pid: process.pid, job: 'gc', since: 'now', token: 'successor' };
    await rm(join(dir, LOCK_FILE_NAME));
    await writeFile(join(dir, LOCK_FILE_NAME), JSON.stringify(successor));
    await lock.release();
    expect(await lockRecord(dir)).toEqual(successor);
  });
});

describe('TempArea.partials', () => {
  it('lists resumable downloads and their sidecars by the digest they are filed under', async () => {
    const area = new TempArea(join(await tempDir(), 'tmp'));
    await area.ensure();
    const digest = sha256Hex('half a squashfs');
    await writeFile(join(area.partialDir, digest), 'half');
    await writeFile(join(area.partialDir, `${digest}.json`), '{}');
    await writeFile(join(area.partialDir, 'not-a-download'), 'x');
    const partials = (await area.partials()).sort((left, right) => left.name.localeCompare(right.name));
    expect(partials.map(({ name, key, size }) => ({ name, key, size }))).toEqual([
      { name: digest, key: digest, size: 4 },
      { name: `${digest}.json`, key: digest, size: 2 },
    ]);

    const [first] = partials;
    if (first === undefined) throw new Error('one partial was listed');
    expect(await area.removePartial(first)).toBe(true);
    expect(await area.removePartial(first)).toBe(false);
    expect((await readdir(area.partialDir)).sort()).toEqual([`${digest}.json`, 'not-a-download']);
  });
});
