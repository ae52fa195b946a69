import { createWriteStream } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Agent, request } from 'undici';

// The download benchmark's baseline: a plain parallel fetch of the same URLs to disk, as someone
// would write it without Stream Ferry. No hashing, no size check beyond counting, no temp names,
// no rename, no fsync, no catalog. It runs in its own process so it is measured exactly as ferry
// is (wall time, stdout marks, peak RSS):
//   node dist/test/bench/plain-fetch-main.js LIST_FILE TARGET_DIR
// LIST_FILE is JSON: {"baseUrl": "http://127.0.0.1:PORT/", "paths": [...], "concurrency": 4,
// "connections": 4, "durable": false}. With "durable", each file is fsynced once written, so the
// bytes are on the disk as ferry's are: that baseline isolates the cost of verification.
// Prints {"type":"start"} before the first request and {"type":"done","files":N,"bytes":N} after
// the last file is closed.

export interface PlainFetchList {
  baseUrl: string;
  paths: string[];
  /** Files at once: ferry's default. */
  concurrency: number;
  /** Connections per origin: ferry's default. */
  connections: number;
  /** fsync each file after writing it, as ferry does before its rename. */
  durable: boolean;
}

/** The same read-ahead ferry's downloads use, so the baseline is not slowed by small buffers. */
const IO_CHUNK_BYTES = 1024 * 1024;

async function fetchAll(list: PlainFetchList, targetDir: string): Promise<{ files: number; bytes: number }> {
  const dispatcher = new Agent({ connections: list.connections });
  const queue = list.paths.values();
  let bytes = 0;
  const fetchOne = async (path: string): Promise<void> => {
    const destination = join(targetDir, path);
    await mkdir(dirname(destination), { recursive: true });
    const response = await request(new URL(path, list.baseUrl), { dispatcher, highWaterMark: IO_CHUNK_BYTES });
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new Error(`${path}: HTTP ${response.statusCode}`);
    }
    const file = createWriteStream(destination, { highWaterMark: IO_CHUNK_BYTES });
    await pipeline(response.body, file);
    bytes += file.bytesWritten;
    if (list.durable) {
      const handle = await open(destination, 'r+');
      try {
        await handle.datasync();
      } finally {
        await handle.close();
      }
    }
  };
  // The lanes share one iterator, so each path is fetched exactly once.
  const lane = async (): Promise<void> => {
    for (const path of queue) await fetchOne(path);
  };
  try {
    await Promise.all(Array.from({ length: Math.min(list.concurrency, list.paths.length) }, lane));
  } finally {
    await dispatcher.close();
  }
  return { files: list.paths.length, bytes };
}

const [listFile, targetDir] = process.argv.slice(2);
if (listFile === undefined || targetDir === undefined) {
  process.stderr.write('usage: node plain-fetch-main.js LIST_FILE TARGET_DIR\n');
  process.exitCode = 2;
} else {
  const list = JSON.parse(await readFile(listFile, 'utf8')) as PlainFetchList;
  process.stdout.write(`${JSON.stringify({ type: 'start' })}\n`);
  try {
    const done = await fetchAll(list, targetDir);
    process.stdout.write(`${JSON.stringify({ type: 'done', ...done })}\n`);
  } catch (error) {
    process.stderr.write(`plain-fetch: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
