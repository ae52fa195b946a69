import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createSigningKey } from '../../src-main/pgp/index.js';
import { generateStream, type StreamOptions } from '../support/stream-generator.js';
import type { Cleanup } from './cleanup.js';
import { readCpuSeconds } from './measure-process.js';
import { GIB, MIB, note } from './report.js';

// The stream the download and rerun benchmarks mirror: MAAS-shaped, signed, with file sizes from
// simplestreams.md §5 (one size per file type, inside the real range: jammy/noble × amd64/arm64
// squashfs 271-435 MiB, initrd 78-116 MB, kernel 11.7-15 MB, manifest ~17.7 KB; CentOS root-tgz
// 517-656 MB; bootloader tarballs 0.3-1.2 MB). One version of each product: ~2.9 GiB in all.

const KIB = 1024;
const STREAM_OPTIONS = {
  releases: ['jammy', 'noble'],
  arches: ['amd64', 'arm64'],
  versions: 1,
  payloadSizes: {
    squashfs: 360 * MIB,
    'boot-initrd': 96 * MIB,
    'boot-kernel': 13 * MIB,
    manifest: 17 * KIB,
    'root-tgz': 520 * MIB,
    'archive.tar.xz': 768 * KIB,
  },
} satisfies StreamOptions;
const MINIMUM_TOTAL_BYTES = 2 * GIB;
/** Written last, so a directory holding it is a complete stream made with these options. */
const MARKER_FILE = 'bench-stream.json';
const SERVER_START_TIMEOUT_MS = 30_000;

export interface BenchStream {
  /** The served directory (the mirror base). */
  mirrorDir: string;
  keyringPath: string;
  /** Relative to the mirror base. */
  indexPath: string;
  files: Array<{ path: string; size: number }>;
  totalBytes: number;
}

/** Generates the stream under the system temp dir, or reuses one a `--keep` run left there. */
export async function prepareBenchStream(cleanup: Cleanup, keep: boolean): Promise<BenchStream> {
  const optionsText = JSON.stringify(STREAM_OPTIONS);
  const rootDir = join(tmpdir(), `ferry-bench-stream-${createHash('sha256').update(optionsText).digest('hex').slice(0, 12)}`);
  if (keep) note(`the stream stays in ${rootDir} (--keep); a later run with the same parameters reuses it`);
  else cleanup.defer(() => rm(rootDir, { recursive: true, force: true }));

  const markerPath = join(rootDir, MARKER_FILE);
  const existing = await readFile(markerPath, 'utf8').then(
    (text) => JSON.parse(text) as BenchStream & { options: string },
    () => undefined,
  );
  if (existing?.options === optionsText) {
    note(`reusing the stream in ${rootDir}`);
    return existing;
  }

  note(`generating a signed stream of at least ${(MINIMUM_TOTAL_BYTES / GIB).toFixed(0)} GiB in ${rootDir}`);
  await rm(markerPath, { force: true });
  const mirrorDir = join(rootDir, 'mirror');
  await mkdir(mirrorDir, { recursive: true });
  const key = await createSigningKey({ name: 'Stream Ferry bench', email: 'bench@stream-ferry.invalid' });
  const keyringPath = join(rootDir, 'keyring.gpg');
  await writeFile(keyringPath, key.publicKeyBinary);
  const stream = await generateStream(mirrorDir, { ...STREAM_OPTIONS, signingKey: key });
  if (stream.totalBytes < MINIMUM_TOTAL_BYTES) {
    throw new Error(`the bench stream holds only ${stream.totalBytes} bytes; raise the payload sizes`);
  }
  const prepared: BenchStream = {
    mirrorDir,
    keyringPath,
    indexPath: stream.indexPath,
    files: stream.files.map(({ path, size }) => ({ path, size })),
    totalBytes: stream.totalBytes,
  };
  await writeFile(markerPath, JSON.stringify({ ...prepared, options: optionsText }));
  return prepared;
}

export interface ServerProcess {
  url: string;
  /** CPU seconds the server has used so far: the client's rounds are charged the difference. */
  cpuSeconds(): Promise<number | undefined>;
  stop(): Promise<void>;
}

/** Serves `dir` from its own process (test/support/serve-fixture-main.ts), on 127.0.0.1 only. */
export async function startServerProcess(dir: string, cleanup: Cleanup): Promise<ServerProcess> {
  const script = join(import.meta.dirname, '../support/serve-fixture-main.js');
  // stdin stays an open pipe: the server exits when it closes, so it dies with this process.
  const child = cleanup.track(spawn(process.execPath, [script, dir], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const exited = new Promise<void>((resolveExit) => {
    child.once('exit', () => {
      resolveExit();
    });
  });
  const url = await new Promise<string>((resolveUrl, rejectUrl) => {
    const timer = setTimeout(() => {
      rejectUrl(new Error(`the fixture server did not start within ${SERVER_START_TIMEOUT_MS} ms`));
    }, SERVER_START_TIMEOUT_MS);
    child.once('error', rejectUrl);
    child.once('exit', (code) => {
      rejectUrl(new Error(`the fixture server exited with ${String(code)} before it printed its URL`));
    });
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolveUrl((JSON.parse(line) as { url: string }).url);
    });
  });
  return {
    url,
    cpuSeconds: () => (child.pid === undefined ? Promise.resolve(undefined) : readCpuSeconds(child.pid)),
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
