// How a download's bytes reach the disk. Two ways behind one contract:
//
// - DirectSink (Linux, where the file system takes O_DIRECT): the bytes are copied into a
//   page-aligned staging buffer and written straight to the device in 2 MiB blocks, bypassing
//   the page cache. Measured on the download benchmark, copying every byte into the page cache
//   (and writing it back later) was the largest single cost of a mirror run, larger than sha256.
//   It also keeps a mirror of hundreds of GB from evicting everything else from memory, and means
//   a file is on the device when its progress says so, not minutes later, which matters on slow
//   USB drives. When bytes stop arriving for a moment, the whole blocks held so far are written
//   too, so a process killed while its source stalls loses less than a block.
// - BufferedSink (everywhere else, or when O_DIRECT is refused): ordinary positional writes,
//   with an early flush every EARLY_FLUSH_BYTES so the final fsync does not wait for a whole file.
//
// Contract shared by both: bytes are taken in order, starting at the offset the sink was opened
// at; `onLanded` reports bytes once they are in the file (so a resumed download never counts a
// byte that is not there); `ready` is never called synchronously, so a writer may hash the chunks
// after handing them over.

import { constants as fsConstants, fdatasync, read, write, writev } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

export type SinkCallback = (error: NodeJS.ErrnoException | null) => void;

export interface FileSink {
  /** Takes `length` bytes that follow everything taken before; calls `ready` once it can take more. */
  write(chunks: readonly Buffer[], length: number, ready: SinkCallback): void;
  /** Writes whatever is held back and waits for every write; rejects with the first disk error. */
  finish(): Promise<void>;
  /** Waits for the writes in flight, drops anything held back, and releases the sink's resources. */
  close(): Promise<void>;
  /**
   * A flush the disk reported as failed. Linux may mark the pages clean after reporting it, so a
   * later fsync could succeed without ever having written them: such a file must not be resumed.
   */
  readonly lostWriteback: NodeJS.ErrnoException | undefined;
}

/**
 * A second descriptor for `path` that writes around the page cache; undefined where O_DIRECT does
 * not exist (macOS, Windows) or the file system refuses it. The caller closes it.
 */
export async function openDirectHandle(path: string): Promise<FileHandle | undefined> {
  const flag = fsConstants.O_DIRECT as number | undefined;
  if (flag === undefined) return undefined;
  try {
    // O_NOFOLLOW: should a link replace the partial file between the two opens, this open fails
    // (ELOOP) instead of writing the download wherever the link leads.
    return await open(path, fsConstants.O_RDWR | flag | fsConstants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
    throw error;
  }
}

/**
 * A sink for the file open at `fd` (for reading and writing), writing after its first `start`
 * bytes; through `direct` when given (see openDirectHandle). Synchronous, so a response body can be
 * piped into it before any of its bytes could be lost to a dropped connection. The caller keeps
 * and closes both descriptors, after the sink's close().
 */
export function createFileSink(fd: number, direct: FileHandle | undefined, start: number, onLanded: (bytes: number) => void): FileSink {
  return direct === undefined ? new BufferedSink(fd, start, onLanded) : new DirectSink(direct.fd, fd, start, onLanded);
}

/**
 * O_DIRECT needs buffer addresses, file offsets and lengths aligned to the device's logical block
 * size; a page covers every common size (512 B and 4 KiB).
 */
export const DIRECT_ALIGNMENT = 4096;
/** Bytes per direct write: large enough that a USB drive or an SSD sees long sequential writes. */
const STAGE_BYTES = 2 * 1024 * 1024;
/** A pause in the incoming bytes after which the stage's aligned part is written anyway. */
const IDLE_FLUSH_MS = 25;
const WASM_PAGE_BYTES = 64 * 1024;

// Node has no aligned allocation, but WebAssembly memory is mapped on its own pages, so its start
// is page-aligned. Node's type definitions omit the WebAssembly global, hence the narrow type.
interface WasmMemoryConstructor {
  new (descriptor: { initial: number }): { readonly buffer: ArrayBuffer };
}
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: WasmMemoryConstructor } }).WebAssembly.Memory;
/**
 * Buffers of finished files, for the next ones. Never trimmed: it holds at most two per download
 * that ran at once (16 MiB at the default concurrency), and a cap below that would allocate fresh
 * memory for every file once --concurrency is raised, which a wasm memory gives back only to the GC.
 */
const stagePool: Buffer[] = [];

/** A page-aligned 2 MiB buffer for O_DIRECT I/O (from the pool); give it back with returnStage. */
export function takeStage(): Buffer {
  return stagePool.pop() ?? Buffer.from(new WasmMemory({ initial: STAGE_BYTES / WASM_PAGE_BYTES }).buffer);
}

export function returnStage(stage: Buffer): void {
  stagePool.push(stage);
}

/**
 * Stages bytes in an aligned buffer and writes it with O_DIRECT whenever it is full, while the
 * next buffer fills. The stage always starts at an aligned file offset: a download resuming at an
 * unaligned offset first reads back the bytes of that block, and rewrites them unchanged. The
 * unaligned tail of a file goes through the ordinary descriptor, so nothing is ever written past
 * the file's last byte.
 */
class DirectSink implements FileSink {
  readonly #directFd: number;
  /** The ordinary descriptor: for the head read back and the unaligned tail. */
  readonly #fd: number;
  readonly #onLanded: (bytes: number) => void;
  #stage: Buffer | undefined;
  /** The other buffer; undefined while its write is in flight. */
  #spare: Buffer | undefined;
  /** File offset of the stage's first byte; always aligned. */
  #stageOffset: number;
  #fill: number;
  /** Set when the file system refused a direct write; see #writeAll. */
  #directRefused = false;
  /**
   * True while the stage itself is read into (the head) or written from (an idle flush): it can be
   * neither submitted nor reshaped until that ends.
   */
  #stageBusy: boolean;
  #idleTimer: NodeJS.Timeout | undefined;
  /** File offset up to which bytes have been reported landed. */
  #landedEnd: number;
  #error: NodeJS.ErrnoException | undefined;
  /** A write() waiting for the buffer in flight. */
  #blocked: (() => void) | undefined;
  /** Reads and writes the kernel may still be doing into or from a buffer: none may be reused before they end. */
  readonly #inFlight = new InFlight();
  readonly lostWriteback = undefined;

  constructor(directFd: number, fd: number, start: number, onLanded: (bytes: number) => void) {
    this.#directFd = directFd;
    this.#fd = fd;
    this.#onLanded = onLanded;
    const stage = takeStage();
    this.#stage = stage;
    this.#spare = takeStage();
    this.#stageOffset = start - (start % DIRECT_ALIGNMENT);
    this.#fill = start - this.#stageOffset;
    this.#landedEnd = start;
    this.#stageBusy = this.#fill > 0;
    if (this.#stageBusy) this.#readHead(stage, this.#fill);
  }

  /** The stage is written whole, so the bytes of its first block that are already in the file are read back into it. */
  #readHead(stage: Buffer, head: number): void {
    this.#inFlight.begin();
    read(this.#fd, stage, 0, head, this.#stageOffset, (error, bytesRead) => {
      if (error !== null) this.#error ??= error;
      else if (bytesRead !== head) this.#error ??= Object.assign(new Error(`the partial file ends before byte ${this.#landedEnd}`), { code: 'EIO' });
      this.#stageBusy = false;
      this.#unblock();
      this.#inFlight.end();
    });
  }

  write(chunks: readonly Buffer[], _length: number, ready: SinkCallback): void {
    this.#take(chunks, 0, 0, ready);
    if (this.#idleTimer === undefined) {
      this.#idleTimer = setTimeout(() => {
        this.#flushWhileIdle();
      }, IDLE_FLUSH_MS);
      this.#idleTimer.unref();
    } else this.#idleTimer.refresh();
  }

  /**
   * When bytes stop arriving (a stalled or slow source), writes the aligned part of the stage
   * rather than holding it, so a process killed during the pause loses less than a block.
   */
  #flushWhileIdle(): void {
    const stage = this.#stage;
    if (stage === undefined || this.#error !== undefined) return;
    if (this.#stageBusy || this.#inFlight.busy) {
      // `written` only grows over contiguous bytes: try again once the write in flight is done.
      this.#idleTimer?.refresh();
      return;
    }
    const aligned = this.#fill - (this.#fill % DIRECT_ALIGNMENT);
    if (this.#stageOffset + aligned <= this.#landedEnd) return;
    this.#stageBusy = true;
    this.#startWrite(stage, 0, aligned, this.#stageOffset, (error) => {
      this.#stageBusy = false;
      if (error !== null) this.#error ??= error;
      else {
        stage.copyWithin(0, aligned, this.#fill);
        this.#stageOffset += aligned;
        this.#fill -= aligned;
      }
      this.#unblock();
    });
  }

  #take(chunks: readonly Buffer[], firstIndex: number, firstOffset: number, ready: SinkCallback): void {
    let offset = firstOffset;
    for (let index = firstIndex; index < chunks.length; index += 1) {
      const chunk = chunks[index] as Buffer;
      while (offset < chunk.length) {
        const stage = this.#stage;
        if (stage === undefined || this.#error !== undefined) {
          process.nextTick(ready, this.#error ?? closedError());
          return;
        }
        const copied = chunk.copy(stage, this.#fill, offset);
        this.#fill += copied;
        offset += copied;
        if (this.#fill === STAGE_BYTES && !this.#submitStage()) {
          // The spare or the stage is still busy; the end of that calls #unblock.
          const resumeAt = index;
          const resumeOffset = offset;
          this.#blocked = () => {
            this.#take(chunks, resumeAt, resumeOffset, ready);
          };
          return;
        }
      }
      offset = 0;
    }
    process.nextTick(ready, this.#error ?? null);
  }

  /** Starts writing the full stage and switches to the spare; false while either is busy. */
  #submitStage(): boolean {
    const full = this.#stage;
    const spare = this.#spare;
    if (full === undefined || spare === undefined || this.#stageBusy) return false;
    const position = this.#stageOffset;
    this.#stage = spare;
    this.#spare = undefined;
    this.#stageOffset += STAGE_BYTES;
    this.#fill = 0;
    this.#startWrite(full, 0, STAGE_BYTES, position, (error) => {
      this.#spare = full;
      if (error !== null) this.#error ??= error;
      this.#unblock();
    });
    return true;
  }

  #unblock(): void {
    const blocked = this.#blocked;
    this.#blocked = undefined;
    blocked?.();
  }

  #startWrite(buffer: Buffer, from: number, length: number, position: number, done: SinkCallback): void {
    this.#inFlight.begin();
    this.#writeAll(buffer, from, length, position, (error) => {
      // After done(), which may start the next write: idle means none is left.
      done(error);
      this.#inFlight.end();
    });
  }

  /** Writes all of buffer[from, from + length) at `position`; a short write continues after what landed. */
  #writeAll(buffer: Buffer, from: number, length: number, position: number, done: SinkCallback): void {
    // Only aligned pieces may go through O_DIRECT; an unaligned remainder goes through the cache.
    const direct = !this.#directRefused && position % DIRECT_ALIGNMENT === 0 && length % DIRECT_ALIGNMENT === 0;
    write(direct ? this.#directFd : this.#fd, buffer, from, length, position, (error, written) => {
      if (error !== null && direct && error.code === 'EINVAL') {
        // Some file systems (FUSE, network ones) open with O_DIRECT but refuse the writes, or want
        // a larger alignment: the rest of this file goes through the cache.
        this.#directRefused = true;
        this.#writeAll(buffer, from, length, position, done);
        return;
      }
      if (error !== null) {
        done(error);
        return;
      }
      this.#landedUpTo(position + written);
      if (written === length) done(null);
      else if (written === 0) done(Object.assign(new Error('the disk accepted no bytes'), { code: 'EIO' }));
      else this.#writeAll(buffer, from + written, length - written, position + written, done);
    });
  }

  #landedUpTo(end: number): void {
    if (end <= this.#landedEnd) return;
    this.#onLanded(end - this.#landedEnd);
    this.#landedEnd = end;
  }

  async finish(): Promise<void> {
    await this.#inFlight.idle();
    if (this.#error !== undefined) throw this.#error;
    const stage = this.#stage;
    if (stage === undefined || this.#stageOffset + this.#fill <= this.#landedEnd) return;
    const alignedLength = this.#fill - (this.#fill % DIRECT_ALIGNMENT);
    const writeOut = (from: number, length: number): Promise<void> =>
      new Promise((resolve, reject) => {
        this.#startWrite(stage, from, length, this.#stageOffset + from, (error) => {
          if (error === null) resolve();
          else reject(error);
        });
      });
    if (alignedLength > 0) await writeOut(0, alignedLength);
    if (this.#fill > alignedLength) await writeOut(alignedLength, this.#fill - alignedLength);
    // The file now ends unaligned: this sink takes no more bytes.
    this.#release();
  }

  async close(): Promise<void> {
    await this.#inFlight.idle();
    this.#release();
  }

  #release(): void {
    clearTimeout(this.#idleTimer);
    if (this.#stage !== undefined) returnStage(this.#stage);
    if (this.#spare !== undefined) returnStage(this.#spare);
    this.#stage = undefined;
    this.#spare = undefined;
  }
}

/**
 * Bytes written since a file's last flush after which the writer asks the disk for them while the
 * download goes on. Without it nothing reaches the disk until the caller's fsync before the rename,
 * which then waits for the whole file: with files of hundreds of MB that wait was ~1.3 s of a
 * 2.9 GiB mirror, while the disk idled during the transfers. The final fsync is kept; it only
 * finds less to do.
 */
const EARLY_FLUSH_BYTES = 32 * 1024 * 1024;
/** Early flushes at once, over all downloads: each holds a thread-pool thread the writes need too. */
const MAX_EARLY_FLUSHES = 1;
let earlyFlushesInFlight = 0;

/** Positional writes through the page cache, one at a time, with early flushes. */
class BufferedSink implements FileSink {
  readonly #fd: number;
  readonly #onLanded: (bytes: number) => void;
  #position: number;
  readonly #inFlight = new InFlight();
  /** An early flush is running; at most one per file. */
  #flushing = false;
  /** Bytes written since the last early flush began. */
  #unflushed = 0;
  lostWriteback: NodeJS.ErrnoException | undefined;

  constructor(fd: number, start: number, onLanded: (bytes: number) => void) {
    this.#fd = fd;
    this.#position = start;
    this.#onLanded = onLanded;
  }

  write(chunks: readonly Buffer[], length: number, ready: SinkCallback): void {
    if (this.lostWriteback !== undefined) {
      process.nextTick(ready, this.lostWriteback);
      return;
    }
    this.#inFlight.begin();
    this.#writeAll(chunks, length, (error) => {
      ready(error);
      this.#inFlight.end();
    });
  }

  #writeAll(chunks: readonly Buffer[], length: number, done: SinkCallback): void {
    writev(this.#fd, chunks, this.#position, (error, written) => {
      if (error !== null) {
        done(error);
        return;
      }
      this.#position += written;
      this.#unflushed += written;
      this.#onLanded(written);
      this.#flushEarly();
      if (written === length) done(null);
      else if (written === 0) done(Object.assign(new Error('the disk accepted no bytes'), { code: 'EIO' }));
      // A short write (rare: the disk filling up, a signal): write the rest after what landed.
      else this.#writeAll(remainderAfter(chunks, written), length - written, done);
    });
  }

  /** Starts an early flush when enough is written and no other is running (see EARLY_FLUSH_BYTES). */
  #flushEarly(): void {
    if (this.#flushing || this.#unflushed < EARLY_FLUSH_BYTES || earlyFlushesInFlight >= MAX_EARLY_FLUSHES) return;
    this.#flushing = true;
    this.#unflushed = 0;
    earlyFlushesInFlight += 1;
    this.#inFlight.begin();
    fdatasync(this.#fd, (error) => {
      earlyFlushesInFlight -= 1;
      this.#flushing = false;
      if (error !== null) this.lostWriteback ??= error;
      this.#inFlight.end();
    });
  }

  async finish(): Promise<void> {
    await this.#inFlight.idle();
    if (this.lostWriteback !== undefined) throw this.lostWriteback;
  }

  close(): Promise<void> {
    return this.#inFlight.idle();
  }
}

/** Operations a sink has handed to the kernel and not yet seen end; idle() waits until there are none. */
class InFlight {
  #count = 0;
  #waiters: Array<() => void> = [];

  get busy(): boolean {
    return this.#count > 0;
  }

  begin(): void {
    this.#count += 1;
  }

  end(): void {
    this.#count -= 1;
    if (this.#count > 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  idle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

/** The chunks (or parts of them) after the first `landed` bytes. */
function remainderAfter(chunks: readonly Buffer[], landed: number): Buffer[] {
  const remaining: Buffer[] = [];
  let skip = landed;
  for (const chunk of chunks) {
    if (skip >= chunk.length) skip -= chunk.length;
    else {
      remaining.push(skip === 0 ? chunk : chunk.subarray(skip));
      skip = 0;
    }
  }
  return remaining;
}

function closedError(): NodeJS.ErrnoException {
  return Object.assign(new Error('the file was already finished or closed'), { code: 'EBADF' });
}
