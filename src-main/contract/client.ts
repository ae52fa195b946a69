// The renderer's one client: typed calls and job events over any Transport. It does not know
// whether a WebSocket (browser mode) or a MessagePort (the Electron shell) carries the messages.
// No Node built-ins here: the renderer bundles this file.

import type { CallInput, CallName, CallOutput } from './calls.js';
import type { ApiError, JobEvent } from './outputs.js';
import type { CallMessage, ServerMessage } from './protocol.js';

/** How messages travel; transports.ts has the WebSocket and MessagePort ones. */
export interface Transport {
  send(message: CallMessage): void;
  /** Registers the one receiver of every message the engine sends. */
  receive(listener: (message: ServerMessage) => void): void;
  /** Called once when the connection is gone (closed by either side or failed). */
  closed(listener: (reason: string) => void): void;
  close(): void;
}

/** An error the engine answered a call with: `{code, message, hint}` and the facts it names. */
export class FerryApiError extends Error {
  override readonly name = 'FerryApiError';
  readonly code: ApiError['code'] | 'FERRY_DISCONNECTED';
  readonly hint: string | undefined;
  readonly field: string | undefined;
  readonly details: ApiError | undefined;

  constructor(error: ApiError | { code: 'FERRY_DISCONNECTED'; message: string; hint?: string }) {
    super(error.message);
    this.code = error.code;
    this.hint = error.hint;
    this.field = 'field' in error ? error.field : undefined;
    this.details = error.code === 'FERRY_DISCONNECTED' ? undefined : error;
  }
}

export type EventListener = (event: JobEvent, seq: number) => void;

export interface FerryClient {
  /** Calls the engine; rejects with FerryApiError (its code, message and hint) on a refusal or a lost connection. */
  call<Name extends CallName>(name: Name, input: CallInput<Name>): Promise<CallOutput<Name>>;
  /**
   * Follows a job: `listener` gets every event after `since` (0: every event the engine kept),
   * in order, then each new one. Answers the job's status and whether the replayed history was
   * complete. To reattach after a reconnect, pass the last seq seen.
   */
  follow(jobId: string, listener: EventListener, since?: number): Promise<{ status: CallOutput<'jobs.get'>; complete: boolean; stop: () => Promise<void> }>;
  /** Fires once when the transport closes; pending calls reject with FERRY_DISCONNECTED. */
  onClose(listener: (reason: string) => void): void;
  close(): void;
}

/** Connects a client over `transport`. */
export function createClient(transport: Transport): FerryClient {
  let nextId = 1;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  const followers = new Map<string, Set<EventListener>>();
  const closeListeners: Array<(reason: string) => void> = [];
  let closedReason: string | undefined;

  transport.receive((message) => {
    if (message.type === 'event') {
      for (const listener of followers.get(message.event.jobId) ?? []) listener(message.event, message.seq);
      return;
    }
    const waiting = pending.get(message.id);
    if (waiting === undefined) return;
    pending.delete(message.id);
    if (message.ok) waiting.resolve(message.value);
    else waiting.reject(new FerryApiError(message.error));
  });
  transport.closed((reason) => {
    closedReason = reason;
    const error = new FerryApiError({ code: 'FERRY_DISCONNECTED', message: `The connection to the engine closed: ${reason}`, hint: 'Reconnect; running jobs keep running in the engine.' });
    for (const waiting of pending.values()) waiting.reject(error);
    pending.clear();
    for (const listener of closeListeners) listener(reason);
  });

  const call = <Name extends CallName>(name: Name, input: CallInput<Name>): Promise<CallOutput<Name>> => {
    if (closedReason !== undefined) return Promise.reject(new FerryApiError({ code: 'FERRY_DISCONNECTED', message: `The connection to the engine closed: ${closedReason}` }));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      transport.send({ type: 'call', id, call: name, input });
    });
  };

  return {
    call,
    async follow(jobId, listener, since = 0) {
      // Registered before the call; what arrives before the replay is held, and events the replay
      // already gave are dropped, so nothing is lost or doubled between the two.
      const replay: { upTo: number | undefined } = { upTo: undefined };
      const early: Array<[JobEvent, number]> = [];
      const live: EventListener = (event, seq) => {
        if (replay.upTo === undefined) early.push([event, seq]);
        else if (seq > replay.upTo) listener(event, seq);
      };
      const set = followers.get(jobId) ?? new Set<EventListener>();
      set.add(live);
      followers.set(jobId, set);
      const answer = await call('jobs.subscribe', { jobId, since }).catch((error: unknown) => {
        set.delete(live);
        throw error;
      });
      for (const { seq, event } of answer.events) listener(event, seq);
      replay.upTo = answer.events.at(-1)?.seq ?? since;
      for (const [event, seq] of early.splice(0)) live(event, seq);
      return {
        status: answer.status,
        complete: answer.complete,
        stop: async () => {
          set.delete(live);
          if (set.size === 0) {
            followers.delete(jobId);
            await call('jobs.unsubscribe', { jobId });
          }
        },
      };
    },
    onClose(listener) {
      closeListeners.push(listener);
    },
    close() {
      transport.close();
    },
  };
}
