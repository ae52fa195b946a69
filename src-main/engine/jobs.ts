import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { describeError, FerryError, isFerryError } from '../base/errors.js';
import {
  isOutcomeEvent,
  type InternalErrorData,
  type JobEvent,
  type JobEventBody,
  type JobInputs,
  type JobKind,
  type JobOutcomes,
  type JobStatus,
} from './api.js';
import { PartialDownloads, type EngineContext, type JobContext, type TargetRequest } from './job-context.js';
import { validateJobInput } from './job-input.js';

// The job model: one way to run every long operation. A job has an id before any work starts,
// reports only through events stamped with that id, and ends with exactly one outcome event.
// Subscribers attach at any time: status() gives the latest state, subscribe() the events after.
// (etcher-sdk's one progress event; VS Code's cancellation tokens.)

/** The code of one kind of job; it throws for a job that fails as a whole. */
export type JobRunner<K extends JobKind> = (input: JobInputs[K], context: JobContext) => Promise<JobOutcomes[K]>;
export type JobRunners = { [K in JobKind]: JobRunner<K> };

export type JobListener = (event: JobEvent) => void;

/** The handle of one job, in the engine's process; what crosses a boundary is its id and its events. */
export interface JobHandle<K extends JobKind = JobKind> {
  readonly id: string;
  readonly kind: K;
  readonly input: JobInputs[K];
  /** The latest state, for a subscriber that attaches late. */
  status(): JobStatus;
  /** Every event from now on, the outcome last; answers a function that unsubscribes. */
  subscribe(listener: JobListener): () => void;
  /** The same events as an async iterator that ends after the outcome (at once for a job that has ended). */
  events(): AsyncIterableIterator<JobEvent>;
  /**
   * Answers the job's `target-needed` event with the folder the next drive is mounted at. Throws
   * FERRY_INPUT_INVALID (field `jobId`) when the job is not waiting for one.
   */
  provideTarget(path: string): void;
  /** Stops the job and deletes the partial downloads it started; ends with `cancelled`. */
  cancel(message?: string): void;
  /** Stops the job and keeps its partial downloads; ends with `paused`. resume() continues it. */
  pause(message?: string): void;
  /**
   * The outcome; rejects with the job's error when it fails, and with a FERRY_CANCELLED FerryError
   * when it is cancelled or paused.
   */
  readonly result: Promise<JobOutcomes[K]>;
}

/** How many ended jobs the registry remembers, for a face that reloads and asks what happened. */
const ENDED_JOBS_KEPT = 50;
/** How many paused jobs it remembers for resume(); a bound, so a face that pauses in a loop cannot grow it without end. */
const PAUSED_JOBS_KEPT = 50;

class Job<K extends JobKind> implements JobHandle<K> {
  readonly id: string;
  readonly kind: K;
  readonly input: JobInputs[K];
  readonly result: Promise<JobOutcomes[K]>;
  readonly #status: JobStatus;
  readonly #listeners = new Set<JobListener>();
  readonly #controller = new AbortController();
  #stopping: 'cancel' | 'pause' | undefined;
  /** Set while the job waits in askTarget. */
  #targetWaiter: ((path: string) => void) | undefined;

  constructor(kind: K, input: JobInputs[K], runner: JobRunner<K>, engine: EngineContext, resumes: string | undefined) {
    // Every transfer in flight listens to the job's signal once and stops listening when it ends, so
    // a job with --concurrency above 10 holds more than Node's default of 10 listeners without leaking.
    setMaxListeners(0, this.#controller.signal);
    this.id = randomUUID();
    this.kind = kind;
    this.input = input;
    this.#status = {
      id: this.id,
      kind,
      input,
      state: 'running',
      startedAt: new Date().toISOString(),
      resumes,
      loaded: undefined,
      plan: undefined,
      progress: undefined,
      outcome: undefined,
    };
    const partials = new PartialDownloads();
    const context: JobContext = {
      ...engine,
      jobId: this.id,
      signal: this.#controller.signal,
      emit: (body) => {
        this.#publish({ ...body, jobId: this.id });
      },
      stopping: () => this.#stopping,
      partials,
      askTarget: (request) => this.#askTarget(request),
    };
    this.result = this.#run(runner, context, partials);
    // A face that only listens to events must not crash the process with an unhandled rejection.
    this.result.catch(() => undefined);
  }

  async #run(runner: JobRunner<K>, context: JobContext, partials: PartialDownloads): Promise<JobOutcomes[K]> {
    // Started on a later turn, so that whoever called startJob subscribes before the first event.
    await Promise.resolve();
    try {
      // A job stopped before it started does nothing at all.
      context.signal.throwIfAborted();
      const outcome = await runner(this.input, context);
      this.#end({ type: 'result', kind: this.kind, outcome }, 'succeeded');
      return outcome;
    } catch (error) {
      if (this.#stopping !== undefined && isFerryError(error, 'FERRY_CANCELLED')) {
        const reason = error.toJSON();
        if (this.#stopping === 'pause') this.#end({ type: 'paused', kind: this.kind, reason }, 'paused');
        else this.#end({ type: 'cancelled', kind: this.kind, reason, partialsDiscarded: partials.discarded }, 'cancelled');
      } else {
        this.#end({ type: 'failed', kind: this.kind, error: serializeError(error) }, 'failed');
      }
      throw error;
    }
  }

  #end(body: JobEventBody, state: JobStatus['state']): void {
    this.#status.state = state;
    this.#publish({ ...body, jobId: this.id });
    this.#listeners.clear();
  }

  #publish(event: JobEvent): void {
    switch (event.type) {
      case 'loaded':
        this.#status.loaded = event;
        break;
      case 'plan':
        this.#status.plan = event.plan;
        break;
      case 'progress':
        this.#status.progress = event.progress;
        break;
      default:
        if (isOutcomeEvent(event)) this.#status.outcome = event;
    }
    // A listener that throws is a bug in a face; it must not stop the job or the other listeners,
    // so it is reported as a process warning (stderr by default) instead of thrown: re-thrown, it
    // would be uncaught and end the process with every running job and its locks and partials.
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        process.emitWarning(`A listener of job ${this.id} threw on a ${event.type} event: ${describeError(error)}`, {
          type: 'FerryListenerWarning',
          detail: error instanceof Error ? error.stack : undefined,
        });
      }
    }
  }

  #askTarget(request: TargetRequest): Promise<string> {
    const signal = this.#controller.signal;
    return new Promise<string>((resolve, reject) => {
      const onAbort = (): void => {
        this.#targetWaiter = undefined;
        reject(signal.reason as Error);
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.#targetWaiter = (path) => {
        signal.removeEventListener('abort', onAbort);
        this.#targetWaiter = undefined;
        resolve(path);
      };
      this.#publish({ type: 'target-needed', ...request, jobId: this.id });
    });
  }

  provideTarget(path: string): void {
    if (this.#targetWaiter === undefined) {
      throw new FerryError('FERRY_INPUT_INVALID', `Job ${this.id} is not waiting for a target folder.`, {
        field: 'jobId',
        expected: 'a running export that asked for the next drive (event target-needed)',
        actual: this.#status.state,
      });
    }
    this.#targetWaiter(path);
  }

  get state(): JobStatus['state'] {
    return this.#status.state;
  }

  status(): JobStatus {
    return structuredClone(this.#status);
  }

  subscribe(listener: JobListener): () => void {
    if (this.#status.outcome !== undefined) return () => undefined;
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  events(): AsyncIterableIterator<JobEvent> {
    const queue: JobEvent[] = [];
    // One waiter per next() not yet answered: a caller may ask for several events without awaiting.
    const waiters: Array<(result: IteratorResult<JobEvent>) => void> = [];
    const { outcome } = this.#status;
    let ended = outcome !== undefined;
    if (outcome !== undefined) queue.push(outcome);
    const finish = (): void => {
      ended = true;
      for (const waiter of waiters.splice(0)) waiter({ done: true, value: undefined });
    };
    const unsubscribe = this.subscribe((event) => {
      const waiter = waiters.shift();
      if (waiter === undefined) queue.push(event);
      else waiter({ done: false, value: event });
      if (isOutcomeEvent(event)) finish();
    });
    const iterator: AsyncIterableIterator<JobEvent> = {
      next(): Promise<IteratorResult<JobEvent>> {
        const event = queue.shift();
        if (event !== undefined) return Promise.resolve({ done: false, value: event });
        if (ended) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve) => {
          waiters.push(resolve);
        });
      },
      return(): Promise<IteratorResult<JobEvent>> {
        unsubscribe();
        queue.length = 0;
        finish();
        return Promise.resolve({ done: true, value: undefined });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  cancel(message = 'The job was cancelled.'): void {
    this.#stop('cancel', message);
  }

  pause(message = 'The job was paused; start it again to resume it.'): void {
    this.#stop('pause', message);
  }

  #stop(how: 'cancel' | 'pause', message: string): void {
    if (this.#status.outcome !== undefined || this.#controller.signal.aborted) return;
    this.#stopping = how;
    this.#controller.abort(new FerryError('FERRY_CANCELLED', message));
  }
}

function serializeError(error: unknown): ReturnType<FerryError['toJSON']> | InternalErrorData {
  if (isFerryError(error)) return error.toJSON();
  return { name: 'InternalError', message: error instanceof Error ? error.message : String(error) };
}

/**
 * The engine's jobs, running and recently ended, by id. It keeps every running job, the newest
 * ENDED_JOBS_KEPT (50) that succeeded, failed or were cancelled, and the newest PAUSED_JOBS_KEPT
 * (50) paused ones. A paused job it forgot cannot be resumed (FERRY_INPUT_INVALID naming its
 * id), but its partial downloads stay on disk, so running the same mirror or sync again continues them.
 */
export class JobRegistry {
  readonly #runners: JobRunners;
  readonly #engine: EngineContext;
  readonly #jobs = new Map<string, Job<JobKind>>();

  constructor(runners: JobRunners, engine: EngineContext) {
    this.#runners = runners;
    this.#engine = engine;
  }

  /** Throws FERRY_INPUT_INVALID (naming the field) or FERRY_FILTER_INVALID before the job exists. */
  start<K extends JobKind>(kind: K, input: JobInputs[K], resumes?: string): JobHandle<K> {
    // A checked copy: a caller's later edits stay out of a running job.
    const checked = validateJobInput(kind, input);
    const job = new Job<K>(kind, checked, this.#runners[kind], this.#engine, resumes);
    this.#jobs.set(job.id, job);
    void job.result.catch(() => undefined).finally(() => {
      this.#forgetOldEnded();
    });
    return job;
  }

  /**
   * Starts a paused job again from its input, as a new job whose status names the paused one:
   * verified files are found present and partial downloads continue with Range requests.
   * Throws FERRY_INPUT_INVALID (field `jobId`) unless that job is paused and still remembered
   * (see the registry's bound on paused jobs).
   */
  resume(jobId: string): JobHandle {
    const paused = this.#jobs.get(jobId);
    if (paused?.state !== 'paused') {
      throw new FerryError('FERRY_INPUT_INVALID', `No paused job has the id ${JSON.stringify(jobId)} (the newest ${PAUSED_JOBS_KEPT} paused jobs are kept).`, {
        field: 'jobId',
        expected: 'the id of a paused job',
        actual: paused === undefined ? 'unknown' : paused.state,
        hint: 'A paused job that is no longer known keeps its partial downloads: start the same mirror or sync again to continue them.',
      });
    }
    this.#jobs.delete(jobId);
    return this.start(paused.kind, paused.input, jobId);
  }

  get(jobId: string): JobHandle | undefined {
    return this.#jobs.get(jobId);
  }

  list(): JobStatus[] {
    return [...this.#jobs.values()].map((job) => job.status());
  }

  #forgetOldEnded(): void {
    // Paused jobs are counted apart: they are work the operator still wants done, and must not be
    // pushed out by jobs that merely ended. The map keeps start order, so the oldest go first.
    const jobs = [...this.#jobs.values()];
    const forget = (held: Array<Job<JobKind>>, kept: number): void => {
      for (const job of held.slice(0, Math.max(0, held.length - kept))) this.#jobs.delete(job.id);
    };
    forget(jobs.filter((job) => job.state !== 'running' && job.state !== 'paused'), ENDED_JOBS_KEPT);
    forget(jobs.filter((job) => job.state === 'paused'), PAUSED_JOBS_KEPT);
  }
}
