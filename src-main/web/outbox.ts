// What browser mode sends one WebSocket client, held back while the client reads slower than the
// engine talks. A sync at full speed emits a progress event every 200 ms per job, a fast one with
// a short interval thousands a second; `ws` would buffer every frame a client has not read, without
// bound. Above SOFT_BUFFER_BYTES in the socket's bufferedAmount the outbox holds the messages
// itself, keeping only the latest progress event of each job (a progress event restates the whole
// state, so an older one tells nothing the newer does not); replies and every other event are kept
// in order. A client that stays so far behind that even those exceed HARD_BUFFER_BYTES is closed
// with SLOW_CLIENT_CLOSE_CODE: it reconnects and reattaches with jobs.subscribe from the last seq it saw.

import { SLOW_CLIENT_CLOSE_CODE, type ServerMessage } from '../contract/index.js';

/** Above this many bytes in the socket's own buffer, messages wait in the outbox (progress coalesced). */
export const SOFT_BUFFER_BYTES = 1024 * 1024;
/** Above this many bytes in the socket's buffer and the outbox together, the client is closed. */
export const HARD_BUFFER_BYTES = 16 * 1024 * 1024;
/** How often held messages are offered to the socket again: ws has no drain event of its own. */
const FLUSH_INTERVAL_MS = 20;

/** What the outbox needs of a `ws` WebSocket. */
export interface OutboxSocket {
  readonly bufferedAmount: number;
  send(data: string): void;
  close(code: number, reason: string): void;
}

export interface OutboxLimits {
  softBytes: number;
  hardBytes: number;
}

interface Held {
  /** The message; undefined once a newer progress event of the same job replaced it (it is skipped). */
  text: string | undefined;
  bytes: number;
  /** The job of a progress event. */
  progressOf: string | undefined;
}

export class Outbox {
  readonly #socket: OutboxSocket;
  readonly #limits: OutboxLimits;
  #held: Held[] = [];
  /** The held progress event of each job, for the next one to replace. */
  readonly #heldProgress = new Map<string, Held>();
  #heldBytes = 0;
  /** Entries of #held that were replaced: the list is compacted when they are half of it. */
  #replacedCount = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(socket: OutboxSocket, limits: OutboxLimits = { softBytes: SOFT_BUFFER_BYTES, hardBytes: HARD_BUFFER_BYTES }) {
    this.#socket = socket;
    this.#limits = limits;
  }

  /** Bytes waiting for this client: in the socket's buffer and held here. */
  get pendingBytes(): number {
    return this.#socket.bufferedAmount + this.#heldBytes;
  }

  /** Sends `message` now, or holds it while the client is behind (see the file's comment). */
  push(message: ServerMessage): void {
    if (this.#closed) return;
    const text = JSON.stringify(message);
    if (this.#held.length === 0 && this.#socket.bufferedAmount < this.#limits.softBytes) {
      this.#socket.send(text);
      return;
    }
    const progressOf = message.type === 'event' && message.event.type === 'progress' ? message.event.jobId : undefined;
    const held: Held = { text, bytes: Buffer.byteLength(text), progressOf };
    if (progressOf !== undefined) {
      // The older one is skipped where it stands, and the newer one goes last: each job's events
      // still reach the client in the order of their seq.
      const older = this.#heldProgress.get(progressOf);
      if (older !== undefined) {
        // Its text is dropped now and its entry at the next compaction, so what is held is what
        // #heldBytes counts: a client that never reads again is closed at the hard limit instead of
        // holding every progress event it missed.
        older.text = undefined;
        this.#heldBytes -= older.bytes;
        this.#replacedCount += 1;
        if (this.#replacedCount * 2 > this.#held.length) this.#compact();
      }
      this.#heldProgress.set(progressOf, held);
    }
    this.#held.push(held);
    this.#heldBytes += held.bytes;
    if (this.pendingBytes > this.#limits.hardBytes) {
      this.close();
      this.#socket.close(SLOW_CLIENT_CLOSE_CODE, 'The client read too slowly; reconnect and reattach to its jobs.');
      return;
    }
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => {
        this.#flush();
      }, FLUSH_INTERVAL_MS);
      // Held messages for a client must not keep a stopping process alive.
      this.#timer.unref();
    }
  }

  /** Forgets what is held and stops offering it: the socket is gone. */
  close(): void {
    this.#closed = true;
    this.#held = [];
    this.#heldProgress.clear();
    this.#heldBytes = 0;
    this.#replacedCount = 0;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #flush(): void {
    let sent = 0;
    while (sent < this.#held.length && this.#socket.bufferedAmount < this.#limits.softBytes) {
      const next = this.#held[sent] as Held;
      sent += 1;
      if (next.text === undefined) {
        this.#replacedCount -= 1;
        continue;
      }
      if (next.progressOf !== undefined && this.#heldProgress.get(next.progressOf) === next) this.#heldProgress.delete(next.progressOf);
      this.#heldBytes -= next.bytes;
      this.#socket.send(next.text);
    }
    // One splice per flush, not a shift per message: the list may hold many thousands.
    this.#held.splice(0, sent);
    if (this.#held.length === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Drops the replaced entries from #held, keeping the order of the others: amortised O(1) per push. */
  #compact(): void {
    this.#held = this.#held.filter((held) => held.text !== undefined);
    this.#replacedCount = 0;
  }
}
