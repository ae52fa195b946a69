// The API service: the engine behind the contract (src-main/contract/), for any transport. A
// transport (web/ for the WebSocket, desktop/ for the MessagePort) opens one connection per client
// and passes every message it receives to receive(); the service checks it against the contract,
// runs the call and answers through `send`. Jobs belong to the service, not to a connection: a
// connection that closes stops only its event messages, and a client that reconnects finds its
// jobs with jobs.list and reattaches with jobs.subscribe from the last event it saw.

import { resolve as resolvePath } from 'node:path';
import { FerryError, isFerryError } from '../base/errors.js';
import {
  apiErrorSchema,
  callMessageSchema,
  calls,
  UNREADABLE_CALL_ID,
  type ApiError,
  type CallName,
  type CallOutput,
  type SequencedEvent,
  type ServerMessage,
} from '../contract/index.js';
import { OR_SEPARATOR } from '../streams/index.js';
import type { z } from 'zod';
import { isOutcomeEvent, type JobEvent, type JobInputs, type JobKind, type JobStatus } from './api.js';
import { JobJournal, readSettings, writeSettings } from './app-data.js';
import { listDrives, type ListDrivesOptions } from './drives.js';
import { createEngine, type Engine, type EngineOptions } from './engine.js';
import { createHistory } from './history.js';
import { productVersion } from './install.js';
import { checkInput, filterGroups, selectionFromGroups } from './job-input.js';
import type { JobHandle } from './jobs.js';
import { resolveLibraryDir } from './library.js';

export interface ApiServiceOptions extends EngineOptions {
  /**
   * The library sync, gc and library calls use when they name none, and the folder jobs.json and
   * settings.json are kept in; default: $FERRY_LIBRARY, then the platform's application data folder.
   */
  library?: string | undefined;
  /** How drives.list runs its tools (tests pass recorded outputs). */
  drives?: Pick<ListDrivesOptions, 'platform' | 'run'> | undefined;
  /** Sees every event of every job (the desktop shell's taskbar progress and end-of-job notification). */
  observe?: ((event: JobEvent, job: Pick<JobStatus, 'kind' | 'startedAt'>) => void) | undefined;
}

/** One client's connection: what it receives goes to receive(); close() when the transport is gone. */
export interface ApiConnection {
  receive(message: unknown): void;
  close(): void;
}

export interface ApiService {
  readonly engine: Engine;
  /** Where jobs.json and settings.json are kept (the default library folder). */
  readonly dataDir: string;
  /** A new client; everything for it goes through `send`, which must not throw. */
  connect(send: (message: ServerMessage) => void): ApiConnection;
  /**
   * Pauses every running job (their partial downloads are kept, and the history records them as
   * paused, to resume later) and waits for them to stop.
   */
  close(): Promise<void>;
}

/** How many events of one job are kept for a client that reattaches; older ones are dropped first. */
export const EVENTS_KEPT_PER_JOB = 1000;

/** A job's events with their sequence numbers, and the connections following it. */
interface JobLog {
  events: SequencedEvent[];
  nextSeq: number;
  followers: Set<(event: SequencedEvent) => void>;
}

type Handlers = { [Name in CallName]: (input: z.infer<(typeof calls)[Name]['input']>, connection: ConnectionState) => Promise<CallOutput<Name>> | CallOutput<Name> };

interface ConnectionState {
  send: (message: ServerMessage) => void;
  /** jobId → stops this connection's event messages of that job. */
  subscriptions: Map<string, () => void>;
}

/** An error as it crosses the API: a FerryError's code, message, hint and facts; anything else FERRY_INTERNAL. */
export function toApiError(error: unknown): ApiError {
  if (isFerryError(error)) {
    // The schema drops `name`, which says nothing once the code is there.
    return apiErrorSchema.parse(error.toJSON());
  }
  return { code: 'FERRY_INTERNAL', message: error instanceof Error ? error.message : String(error), hint: 'This is a bug in Stream Ferry; the engine log has the details.' };
}

function unknownJob(jobId: string, expected: string, actual: string): FerryError {
  // "the id of a running job" → "No running job has the id "x".", and so for each `expected`.
  return new FerryError('FERRY_INPUT_INVALID', `No ${expected.replace(/^the id of an? /, '')} has the id ${JSON.stringify(jobId)}.`, { field: 'jobId', expected, actual });
}

/**
 * Starts the service: an engine, the job history in `dataDir` (jobs left running by an engine
 * that stopped are marked interrupted; a damaged jobs.json is kept aside with a warning, see
 * JobJournal.open) and the saved settings. Throws FERRY_IO.
 */
export async function createApiService(options: ApiServiceOptions = {}): Promise<ApiService> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const dataDir = resolveLibraryDir({ library: options.library, env, cwd });
  const engine = createEngine({ env, cwd });
  const journal = await JobJournal.open(dataDir);
  const logs = new Map<string, JobLog>();
  const recording = new Set<Promise<void>>();

  const record = (status: JobStatus, rerun?: JobStatus['input']): void => {
    // A history that cannot be written must not stop the job; the warning says why.
    const write = journal.record(status, rerun).catch((error: unknown) => {
      process.emitWarning(`The job history could not be written: ${toApiError(error).message}`, { type: 'FerryJournalWarning' });
    });
    recording.add(write);
    void write.finally(() => recording.delete(write));
  };

  /** What runs the job again after a restart; a stream this engine no longer holds leaves it as given (the job itself then fails naming it). */
  const rerunInput = <K extends JobKind>(handle: JobHandle<K>): JobInputs[K] | undefined => {
    try {
      return engine.portableInput(handle.kind, handle.input);
    } catch {
      return undefined;
    }
  };

  const track = <K extends JobKind>(handle: JobHandle<K>): { jobId: string } => {
    const log: JobLog = { events: [], nextSeq: 1, followers: new Set() };
    logs.set(handle.id, log);
    // Recorded while the job's stream is surely loaded: a stream given by id cannot be named later.
    record(handle.status(), rerunInput(handle));
    handle.subscribe((event: JobEvent) => {
      const sequenced = { seq: log.nextSeq++, event };
      log.events.push(sequenced);
      if (log.events.length > EVENTS_KEPT_PER_JOB) log.events.shift();
      for (const follower of log.followers) follower(sequenced);
      options.observe?.(event, { kind: handle.kind, startedAt: handle.status().startedAt });
      if (isOutcomeEvent(event)) record(handle.status());
    });
    return { jobId: handle.id };
  };

  /** Sync, gc and an export from the library use the service's library unless the input names one. */
  const withLibrary = <K extends JobKind>(kind: K, input: JobInputs[K]): JobInputs[K] => {
    const usesLibrary = kind === 'sync' || kind === 'gc' || (kind === 'export' && (input as JobInputs['export']).tree === undefined);
    return usesLibrary && (input as JobInputs['sync' | 'gc' | 'export']).library === undefined ? { ...input, library: dataDir } : input;
  };

  const status = (jobId: string): JobStatus => {
    const found = engine.job(jobId)?.status() ?? journal.get(jobId);
    if (found === undefined) throw unknownJob(jobId, 'the id of a job this engine ran or recorded', 'unknown');
    return found;
  };

  const running = (jobId: string): JobHandle => {
    const handle = engine.job(jobId);
    const state = handle?.status().state;
    if (handle === undefined || state !== 'running') throw unknownJob(jobId, 'the id of a running job', state ?? journal.get(jobId)?.state ?? 'unknown');
    return handle;
  };

  // The History and Plan screens' calls (engine/history.ts); the jobs are the journal's, as jobs.list.
  const history = createHistory({ engine, dataDir, cwd, jobs: () => journal.list() });

  const handlers: Handlers = {
    'engine.info': () => ({ version: productVersion(), dataDir, libraryDir: dataDir }),
    'sources.load': (input) => track(engine.startJob('load', input)),
    'sources.list': () => engine.sources(),
    'sources.release': ({ streamId }) => ({ released: engine.releaseStream(streamId) }),
    'catalog.query': ({ streamId, ...request }) => engine.query(streamId, request),
    'catalog.products': ({ streamId, ...request }) => engine.products(streamId, request),
    'catalog.advise': ({ streamId, ...request }) => engine.advise(streamId, request),
    'selection.parse': ({ filters }) => ({ groups: filterGroups(filters) }),
    'selection.format': ({ groups }) => {
      selectionFromGroups(groups);
      return { filters: groups.flatMap((group, index) => (index === 0 ? group : [OR_SEPARATOR, ...group])) };
    },
    plan: (request) => (request.kind === 'mirror' ? engine.plan('mirror', request.input) : engine.plan('sync', withLibrary('sync', request.input))),
    'jobs.start': (request) => track(engine.startJob(request.kind, withLibrary(request.kind, request.input))),
    'jobs.list': () => {
      const live = new Map(engine.jobs().map((job) => [job.id, job]));
      const recorded = journal.list().map((job) => live.get(job.id) ?? job);
      const known = new Set(recorded.map((job) => job.id));
      return [...recorded, ...[...live.values()].filter((job) => !known.has(job.id))];
    },
    'jobs.get': ({ jobId }) => status(jobId),
    'jobs.subscribe': ({ jobId, since = 0 }, connection) => {
      const current = status(jobId);
      const log = logs.get(jobId);
      if (log === undefined) return { status: current, events: [], complete: false };
      connection.subscriptions.get(jobId)?.();
      if (current.outcome === undefined) {
        const follower = (event: SequencedEvent): void => {
          connection.send({ type: 'event', ...event });
          if (isOutcomeEvent(event.event)) connection.subscriptions.get(jobId)?.();
        };
        log.followers.add(follower);
        connection.subscriptions.set(jobId, () => {
          log.followers.delete(follower);
          connection.subscriptions.delete(jobId);
        });
      }
      const events = log.events.filter((event) => event.seq > since);
      const firstKept = log.events[0]?.seq ?? log.nextSeq;
      return { status: current, events, complete: since + 1 >= firstKept };
    },
    'jobs.unsubscribe': ({ jobId }, connection) => {
      connection.subscriptions.get(jobId)?.();
      return {};
    },
    'jobs.pause': ({ jobId }) => {
      running(jobId).pause();
      return {};
    },
    'jobs.cancel': ({ jobId }) => {
      running(jobId).cancel();
      return {};
    },
    'jobs.provideTarget': ({ jobId, path }) => {
      running(jobId).provideTarget(path);
      return {};
    },
    'jobs.resume': ({ jobId }) => {
      if (engine.job(jobId)?.status().state === 'paused') return track(engine.resumeJob(jobId));
      const recorded = journal.get(jobId);
      if (recorded === undefined || (recorded.state !== 'paused' && recorded.state !== 'interrupted') || engine.job(jobId) !== undefined) {
        throw unknownJob(jobId, 'the id of a paused or interrupted job', engine.job(jobId)?.status().state ?? recorded?.state ?? 'unknown');
      }
      // A job from an engine that stopped: its input runs again as recorded to run anywhere (its
      // stream loaded again from its source); present files are kept and partial downloads continue.
      return track(engine.startJob(recorded.kind, journal.rerunInput(jobId) as JobInputs[typeof recorded.kind], jobId));
    },
    'library.summary': ({ library }) => engine.librarySummary({ library: library ?? dataDir }),
    'profiles.list': async ({ library }) => (await engine.librarySummary({ library: library ?? dataDir })).profiles,
    'receipts.write': (input) => history.writeReceipt(input),
    'drives.list': ({ showSystem }) => listDrives({ ...options.drives, ...(showSystem === undefined ? {} : { showSystem }) }),
    'settings.get': () => readSettings(dataDir),
    'settings.set': async (settings) => {
      const stored = settings.library === undefined ? settings : { ...settings, library: resolvePath(cwd, settings.library) };
      await writeSettings(dataDir, stored);
      return stored;
    },
    'library.space': (input) => history.space(input),
    'history.exports': (input) => history.exports(input),
    'history.receipts': () => history.receipts(),
    'history.audit': () => history.audit(),
  };

  const dispatch = async (raw: unknown, connection: ConnectionState): Promise<void> => {
    const id = typeof raw === 'object' && raw !== null && 'id' in raw && typeof raw.id === 'number' ? raw.id : UNREADABLE_CALL_ID;
    try {
      const message = checkInput(callMessageSchema, raw, 'message');
      const name: CallName = message.call;
      const input = checkInput(calls[name].input, message.input === undefined ? {} : message.input, 'input');
      const handler = handlers[name] as (input: unknown, connection: ConnectionState) => unknown;
      connection.send({ type: 'reply', id, ok: true, value: await handler(input, connection) });
    } catch (error) {
      connection.send({ type: 'reply', id, ok: false, error: toApiError(error) });
    }
  };

  return {
    engine,
    dataDir,
    connect(send) {
      const connection: ConnectionState = { send, subscriptions: new Map() };
      return {
        receive: (message) => {
          void dispatch(message, connection);
        },
        close: () => {
          for (const stop of [...connection.subscriptions.values()]) stop();
        },
      };
    },
    async close() {
      const stopping = engine.jobs().filter((job) => job.state === 'running');
      for (const job of stopping) engine.job(job.id)?.pause('The engine is stopping; resume the job when it runs again.');
      const results = stopping.flatMap((job) => engine.job(job.id)?.result.catch(() => undefined) ?? []);
      await Promise.all(results);
      await Promise.all([...recording]);
    },
  };
}

/**
 * The engine's end of a MessagePort (Electron's MessagePortMain in the utility process, or
 * node:worker_threads' MessagePort in tests), in the few operations they share. The shell adapts
 * its port to this; the protocol on it is the WebSocket's, messages posted as they are.
 */
export interface PortEndpoint {
  post(message: ServerMessage): void;
  /** Registers the receiver of every message the client posts. */
  listen(listener: (message: unknown) => void): void;
  /** Registers what to do once the port is closed from either side. */
  onClose(listener: () => void): void;
  start(): void;
}

/** Serves one client over a MessagePort: one connection of `service` for the life of the port. */
export function attachPort(service: ApiService, port: PortEndpoint): ApiConnection {
  const connection = service.connect((message) => {
    port.post(message);
  });
  port.listen((message) => {
    connection.receive(message);
  });
  port.onClose(() => {
    connection.close();
  });
  port.start();
  return connection;
}
