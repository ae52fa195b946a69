import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { Catalog } from '../../../src-main/library/catalog.js';

/** Fresh folders under the OS temp dir, removed after each test. */
export function useTempDirs(): (label?: string) => Promise<string> {
  const created: string[] = [];
  afterEach(async () => {
    await Promise.all(created.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  return async (label = 'library') => {
    const dir = await mkdtemp(join(tmpdir(), `ferry-${label}-`));
    created.push(dir);
    return dir;
  };
}

/** Catalogs in fresh temp folders, closed (before their folder is removed) after each test. */
export function useCatalogs(): (options?: { now?: () => Date }) => Promise<Catalog> {
  // Registered first so that it runs last: vitest runs after-hooks in reverse order.
  const tempDir = useTempDirs();
  const catalogs: Catalog[] = [];
  afterEach(() => {
    for (const catalog of catalogs.splice(0)) catalog.close();
  });
  return async (options = {}) => {
    const catalog = Catalog.open(join(await tempDir('catalog'), 'catalog.db'), options);
    catalogs.push(catalog);
    return catalog;
  };
}

export function sha256Hex(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

/** A clock that the test moves by hand. */
export function manualClock(start = '2025-01-02T03:04:05.000Z'): { now: () => Date; set: (iso: string) => void } {
  let current = new Date(start);
  return {
    now: () => new Date(current),
    set: (iso) => {
      current = new Date(iso);
    },
  };
}

/** The pid of a process that has exited, for temp files whose writer is gone. */
export function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid;
}
