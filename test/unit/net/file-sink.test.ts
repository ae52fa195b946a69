import { constants as fsConstants } from 'node:fs';
import { open, readFile, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileSink, openDirectHandle, type FileSink } from '../../../src-main/net/file-sink.js';
import { digest, makeTempDir, testBytes } from './support.js';

// Both sinks on real files: the bytes that reach the file, where they start, what is reported as
// landed, and what happens when the disk refuses them. The direct sink's stage is 2 MiB and its
// alignment 4 KiB, so the sizes below sit on and around those edges.

const KIB = 1024;
const MIB = 1024 * KIB;
const STAGE = 2 * MIB;

const directAvailable = (fsConstants.O_DIRECT as number | undefined) !== undefined;
if (!directAvailable) console.warn('file-sink tests: this platform has no O_DIRECT, so only the buffered sink is tested.');
const kinds = directAvailable ? (['direct', 'buffered'] as const) : (['buffered'] as const);
type Kind = (typeof kinds)[number];

let temp: { path: string; remove: () => Promise<void> };

beforeEach(async () => {
  temp = await makeTempDir();
});

afterEach(async () => {
  await temp.remove();
});

interface OpenedSink {
  sink: FileSink;
  landed: () => number;
  path: string;
  close: () => Promise<void>;
}

async function openSink(kind: Kind, name: string, start = 0): Promise<OpenedSink> {
  const path = join(temp.path, name);
  const handle = await open(path, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644);
  let direct: FileHandle | undefined;
  if (kind === 'direct') {
    direct = await openDirectHandle(path);
    if (direct === undefined) throw new Error(`the temp directory ${temp.path} refuses O_DIRECT; these tests need one that takes it`);
  }
  let landed = 0;
  const sink = createFileSink(handle.fd, direct, start, (bytes) => {
    landed += bytes;
  });
  return {
    sink,
    landed: () => landed,
    path,
    close: async () => {
      await sink.close();
      await direct?.close();
      await handle.close();
    },
  };
}

/** Hands `bytes` over in pieces of the given sizes (cycled), one write at a time, as a stream would. */
async function feed(sink: FileSink, bytes: Buffer, pieceSizes: readonly number[]): Promise<void> {
  let offset = 0;
  for (let index = 0; offset < bytes.length; index += 1) {
    const size = Math.min(pieceSizes[index % pieceSizes.length] ?? 1, bytes.length - offset);
    const piece = bytes.subarray(offset, offset + size);
    // Two chunks per write now and then, as Writable._writev hands them over.
    const chunks = size > 1 && index % 3 === 2 ? [piece.subarray(0, size >> 1), piece.subarray(size >> 1)] : [piece];
    await new Promise<void>((resolve, reject) => {
      sink.write(chunks, size, (error) => {
        if (error === null) resolve();
        else reject(error);
      });
    });
    offset += size;
  }
}

describe.each(kinds)('%s file sink', (kind) => {
  it.each([
    ['nothing', 0],
    ['one byte', 1],
    ['one block less a byte', 4 * KIB - 1],
    ['one block', 4 * KIB],
    ['a stage less a byte', STAGE - 1],
    ['a stage', STAGE],
    ['a stage and a byte', STAGE + 1],
    ['several stages and an odd tail', 3 * STAGE + 123_457],
  ])('writes %s exactly, and reports every byte landed once', async (_label, size) => {
    const bytes = testBytes(size, size + 3);
    const opened = await openSink(kind, 'file.part');
    try {
      await feed(opened.sink, bytes, [65_536, 1_000, 300_001, 7]);
      await opened.sink.finish();
    } finally {
      await opened.close();
    }

    expect(opened.landed()).toBe(size);
    expect((await stat(opened.path)).size).toBe(size);
    expect(digest('sha256', await readFile(opened.path))).toBe(digest('sha256', bytes));
  });

  it.each([
    ['inside the first block', 1_000],
    ['on a block edge', 8 * KIB],
    ['just past a stage', STAGE + 5],
  ])('continues a partial file that ends %s, keeping its bytes and counting only the new ones', async (_label, start) => {
    const whole = testBytes(STAGE * 2 + 777, 11);
    const path = join(temp.path, 'resume.part');
    await writeFile(path, whole.subarray(0, start));
    const opened = await openSink(kind, 'resume.part', start);
    try {
      await feed(opened.sink, whole.subarray(start), [100_000, 4_096, 1]);
      await opened.sink.finish();
    } finally {
      await opened.close();
    }

    expect(opened.landed()).toBe(whole.length - start);
    expect(digest('sha256', await readFile(path))).toBe(digest('sha256', whole));
  });

  it('never calls back synchronously, so the caller may hash the chunks after handing them over', async () => {
    const opened = await openSink(kind, 'async.part');
    try {
      let returned = false;
      let calledBeforeReturn = false;
      const done = new Promise<void>((resolve) => {
        opened.sink.write([testBytes(10, 1)], 10, () => {
          calledBeforeReturn = !returned;
          resolve();
        });
      });
      returned = true;
      await done;
      await opened.sink.finish();

      expect(calledBeforeReturn).toBe(false);
    } finally {
      await opened.close();
    }
  });

  it('keeps two files apart when both write at once (staging buffers are never shared)', async () => {
    const first = testBytes(STAGE * 3 + 9, 21);
    const second = testBytes(STAGE * 2 + 4_097, 22);
    const a = await openSink(kind, 'a.part');
    const b = await openSink(kind, 'b.part');
    try {
      await Promise.all([feed(a.sink, first, [65_536]), feed(b.sink, second, [50_000])]);
      await Promise.all([a.sink.finish(), b.sink.finish()]);
    } finally {
      await a.close();
      await b.close();
    }

    expect(digest('sha256', await readFile(a.path))).toBe(digest('sha256', first));
    expect(digest('sha256', await readFile(b.path))).toBe(digest('sha256', second));
  });
});

describe.runIf(directAvailable)('direct file sink', () => {
  it('writes whole stages while bytes arrive, holds back the last part until finish(), then writes it', async () => {
    const bytes = testBytes(2 * STAGE + 100_000, 5);
    const opened = await openSink('direct', 'held.part');
    try {
      await feed(opened.sink, bytes, [65_536]);
      // The second stage could only start once the first was written; the second may still be in
      // flight, and the last bytes wait for a full stage, a pause or the end.
      expect(opened.landed()).toBeGreaterThanOrEqual(STAGE);
      expect(opened.landed()).toBeLessThan(bytes.length);
      expect((await stat(opened.path)).size).toBeGreaterThanOrEqual(STAGE);

      await opened.sink.finish();
      expect(opened.landed()).toBe(bytes.length);
    } finally {
      await opened.close();
    }
  });

  it('writes the aligned part of what it holds once bytes stop arriving, so a kill during a pause loses less than a block', async () => {
    const bytes = testBytes(100_000, 7);
    const opened = await openSink('direct', 'paused.part');
    try {
      await feed(opened.sink, bytes, [65_536]);
      const aligned = bytes.length - (bytes.length % (4 * KIB));
      const deadline = Date.now() + 5_000;
      while (opened.landed() < aligned && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));

      expect(opened.landed()).toBe(aligned);
      expect(digest('sha256', await readFile(opened.path))).toBe(digest('sha256', bytes.subarray(0, aligned)));

      // More bytes after the pause continue right after what was written.
      const more = testBytes(STAGE + 3, 8);
      await feed(opened.sink, more, [65_536]);
      await opened.sink.finish();
      expect(opened.landed()).toBe(bytes.length + more.length);
      expect(digest('sha256', await readFile(opened.path))).toBe(digest('sha256', Buffer.concat([bytes, more])));
    } finally {
      await opened.close();
    }
  });

  it('drops what it holds back when closed without finish(), and writes nothing after', async () => {
    const opened = await openSink('direct', 'dropped.part');
    // Less than a block: a pause writes nothing, since only whole blocks go out early.
    await feed(opened.sink, testBytes(4_000, 6), [1_000]);
    await opened.close();

    expect(opened.landed()).toBe(0);
    expect((await stat(opened.path)).size).toBe(0);
  });
});
