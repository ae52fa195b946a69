import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyInKernel, inStages, pumpChunks, writeFully } from '../../../src-main/base/pipeline.js';

// The copy ring of exports and imports on real files: every byte lands once at its place, in
// order for the hash, and a failing write or read is the pump's failure, with nothing in flight
// when it returns.

const source = Buffer.from(Array.from({ length: 10_000 }, (_unused, index) => (index * 7919) % 251));

describe('pumpChunks', () => {
  it('copies a file through a small ring with the hash of the bytes in order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-pump-'));
    try {
      await writeFile(join(dir, 'in'), source);
      const input = await open(join(dir, 'in'), 'r');
      const output = await open(join(dir, 'out'), 'w');
      const hash = createHash('sha256');
      let inFlight = 0;
      let most = 0;
      const copied = await pumpChunks({
        read: async (buffer, length, position) => (await input.read(buffer, 0, length, position)).bytesRead,
        inspect: (chunk) => hash.update(chunk),
        write: async (chunk, position) => {
          inFlight += 1;
          most = Math.max(most, inFlight);
          // Later writes land first: positions, not order, put the bytes in place.
          await new Promise((resolveLater) => setTimeout(resolveLater, position % 3));
          await writeFully(output, chunk, position);
          inFlight -= 1;
        },
        buffers: Array.from({ length: 4 }, () => Buffer.alloc(999)),
      });
      await input.close();
      await output.close();
      expect(copied).toBe(source.length);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(source).digest('hex'));
      expect(await readFile(join(dir, 'out'))).toEqual(source);
      expect(most).toBeGreaterThan(1);
      // The buffer a read is about to fill never has a write under way.
      expect(most).toBeLessThanOrEqual(3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stops at the limit, and a short read ends the copy when asked to', async () => {
    const read = (buffer: Buffer, length: number, position: number): Promise<number> => Promise.resolve(source.copy(buffer, 0, position, Math.min(position + length, 2500)));
    const buffers = (): Buffer[] => [Buffer.alloc(1000), Buffer.alloc(1000)];
    expect(await pumpChunks({ read, limit: 1500, inspect: () => undefined, buffers: buffers() })).toBe(1500);
    let reads = 0;
    const counted = (buffer: Buffer, length: number, position: number): Promise<number> => {
      reads += 1;
      return read(buffer, length, position);
    };
    expect(await pumpChunks({ read: counted, shortReadEnds: true, inspect: () => undefined, buffers: buffers() })).toBe(2500);
    expect(reads).toBe(3);
  });

  it('fails with the first failing write, after every read and write has settled', async () => {
    let settled = 0;
    const failure = pumpChunks({
      read: (_buffer, length) => Promise.resolve(length).finally(() => (settled += 1)),
      limit: 10_000,
      inspect: () => undefined,
      write: async (_chunk, position) => {
        await new Promise((resolveLater) => setTimeout(resolveLater, 5));
        settled += 1;
        if (position === 2000) throw new Error('the drive went away');
      },
      buffers: Array.from({ length: 4 }, () => Buffer.alloc(1000)),
    });
    await expect(failure).rejects.toThrow('the drive went away');
    const after = settled;
    await new Promise((resolveLater) => setTimeout(resolveLater, 20));
    expect(settled).toBe(after);
  });
});

describe('copyInKernel', () => {
  it('copies the file its descriptor names, even once a FIFO took its path, and never writes through a link at the target name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-kernel-copy-'));
    try {
      await writeFile(join(dir, 'in'), source);
      const input = await open(join(dir, 'in'), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
      try {
        // The path now names a FIFO: opening it by name would block; the descriptor's name reopens the checked file.
        await rename(join(dir, 'in'), join(dir, 'moved'));
        execFileSync('mkfifo', [join(dir, 'in')]);
        expect(await copyInKernel(input, join(dir, 'out'))).toBe(true);
        expect(await readFile(join(dir, 'out'))).toEqual(source);

        await writeFile(join(dir, 'outside'), 'keep');
        await symlink(join(dir, 'outside'), join(dir, 'linked'));
        await expect(copyInKernel(input, join(dir, 'linked'))).rejects.toMatchObject({ code: 'EEXIST' });
        expect(await readFile(join(dir, 'outside'), 'utf8')).toBe('keep');
      } finally {
        await input.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('inStages', () => {
  it('stages one item at a time, at most `ahead` past the one finishing, finishes in order, and abandons what was staged ahead of a failure', async () => {
    const events: string[] = [];
    let staging = 0;
    let mostAtOnce = 0;
    let unfinished = 0;
    let mostUnfinished = 0;
    const stage = async (item: number): Promise<{ abandon: () => Promise<void> }> => {
      staging += 1;
      mostAtOnce = Math.max(mostAtOnce, staging);
      unfinished += 1;
      mostUnfinished = Math.max(mostUnfinished, unfinished);
      await new Promise((resolve) => setTimeout(resolve, 2));
      staging -= 1;
      events.push(`staged ${item}`);
      return {
        abandon: () => {
          events.push(`abandoned ${item}`);
          return Promise.resolve();
        },
      };
    };
    const finish = async (item: number, staged: Promise<unknown>): Promise<void> => {
      await staged;
      await new Promise((resolve) => setTimeout(resolve, 10));
      unfinished -= 1;
      if (item === 3) throw new Error('item 3 failed');
      events.push(`finished ${item}`);
    };
    await expect(inStages([0, 1, 2, 3, 4, 5, 6], 2, stage, finish)).rejects.toThrow('item 3 failed');
    expect(mostAtOnce).toBe(1);
    // The item finishing and two staged ahead of it.
    expect(mostUnfinished).toBe(3);
    expect(events.filter((event) => event.startsWith('finished'))).toEqual(['finished 0', 'finished 1', 'finished 2']);
    expect(events.filter((event) => event.startsWith('abandoned'))).toEqual(['abandoned 4', 'abandoned 5']);
    expect(events).not.toContain('staged 6');
  });
});
