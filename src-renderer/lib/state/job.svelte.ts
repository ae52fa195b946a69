// One engine job as the screens see it: its state, latest progress, recent speeds, failed files and
// outcome, fed by the job's events. Source, Sync, Export and Offline each hold one (a load, a sync,
// an export, a verify or import); the pattern is svelte.dev's Bundler.svelte.ts, a class wrapping a
// message stream and exposing the latest state.
import type { ProgressData as Progress } from '../../../src-main/contract/index.js';
import { toClientError, type ClientError, type FerryClient, type JobEvent, type JobInputs, type JobKind, type JobOutcomes, type SerializedFerryError } from '../client.js';

export type RunState = 'idle' | 'starting' | 'running' | 'pausing' | 'paused' | 'succeeded' | 'failed' | 'cancelled';

type OutcomeEvent = Extract<JobEvent, { type: 'result' | 'failed' | 'cancelled' | 'paused' }>;

/** How many speed samples the throughput chart keeps (one per progress event, 200 ms apart by default: about a minute). */
export const SPEED_SAMPLES = 300;

export interface FailedFile {
  path: string;
  url: string;
  error: SerializedFerryError;
}

export class JobRun<K extends JobKind> {
  readonly #client: FerryClient;
  readonly #kind: K;
  #input: JobInputs[K] | undefined;
  #unsubscribe: (() => void) | undefined;
  #settle: ((event: OutcomeEvent) => void) | undefined;

  #state = $state<RunState>('idle');
  #jobId = $state<string | undefined>(undefined);
  #progress = $state.raw<Progress | undefined>(undefined);
  #speeds = $state.raw<number[]>([]);
  #failedFiles = $state.raw<FailedFile[]>([]);
  #doneFiles = $state(0);
  #retrying = $state.raw<string | undefined>(undefined);
  #outcome = $state.raw<OutcomeEvent | undefined>(undefined);
  #error = $state.raw<ClientError | undefined>(undefined);
  #events = $state.raw<JobEvent[]>([]);

  constructor(client: FerryClient, kind: K) {
    this.#client = client;
    this.#kind = kind;
  }

  get state(): RunState { return this.#state; }
  get jobId(): string | undefined { return this.#jobId; }
  get progress(): Progress | undefined { return this.#progress; }
  /** Bytes per second, oldest first. */
  get speeds(): readonly number[] { return this.#speeds; }
  get failedFiles(): readonly FailedFile[] { return this.#failedFiles; }
  get doneFiles(): number { return this.#doneFiles; }
  /** The latest retry notice ("waiting 2 s then attempt 2 of 4: ..."), cleared by the next progress. */
  get retrying(): string | undefined { return this.#retrying; }
  get outcome(): OutcomeEvent | undefined { return this.#outcome; }
  /** A refusal of the call itself (bad input, lost connection) or the job's failure, to show as is. */
  get error(): ClientError | undefined { return this.#error; }
  /** Every event except progress, for the job's log. */
  get events(): readonly JobEvent[] { return this.#events; }
  get active(): boolean { return this.#state === 'starting' || this.#state === 'running' || this.#state === 'pausing'; }

  /** The result's outcome: this run's kind's (the event's union of outcomes is narrowed by the kind it was started with). */
  result(): JobOutcomes[K] | undefined {
    const outcome = this.#outcome;
    return outcome?.type === 'result' ? (outcome.outcome as JobOutcomes[K]) : undefined;
  }

  /** Starts the job; resolves with its last event (result, failed, cancelled or paused). */
  start(input: JobInputs[K]): Promise<OutcomeEvent | undefined> {
    this.#input = input;
    this.#reset();
    return this.#begin(() => this.#client.startJob(this.#kind, input));
  }

  /** A paused job continues from its partial downloads; a failed one runs again from its input. */
  resume(): Promise<OutcomeEvent | undefined> {
    const jobId = this.#jobId;
    if (this.#state === 'paused' && jobId !== undefined) {
      this.#error = undefined;
      this.#failedFiles = [];
      return this.#begin(() => this.#client.resumeJob(jobId));
    }
    const input = this.#input;
    return input === undefined ? Promise.resolve(undefined) : this.start(input);
  }

  async pause(): Promise<void> {
    const jobId = this.#jobId;
    if (jobId === undefined || this.#state !== 'running') return;
    this.#state = 'pausing';
    await this.#call(() => this.#client.pauseJob(jobId));
  }

  async cancel(): Promise<void> {
    const jobId = this.#jobId;
    if (jobId === undefined || !this.active) return;
    await this.#call(() => this.#client.cancelJob(jobId));
  }

  /** Stops listening (the job itself goes on in the engine). */
  detach(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  /** Applies one event; public so a job found running at start-up (reattach) is fed the same way. */
  apply(event: JobEvent): void {
    switch (event.type) {
      case 'progress':
        this.#progress = event.progress;
        this.#speeds = [...this.#speeds.slice(-(SPEED_SAMPLES - 1)), event.progress.speed];
        this.#retrying = undefined;
        return;
      case 'file-done':
        this.#doneFiles += 1;
        return;
      case 'file-failed':
        this.#failedFiles = [...this.#failedFiles, { path: event.path, url: event.url, error: event.error }];
        break;
      case 'retry':
        this.#retrying = `Waiting ${(event.delayMs / 1000).toFixed(1)} s, then attempt ${event.attempt + 1} of ${event.maxAttempts}: ${event.cause.message}`;
        break;
      case 'result':
        this.#state = 'succeeded';
        break;
      case 'failed':
        this.#state = 'failed';
        this.#error = toClientError(event.error);
        break;
      case 'cancelled':
        this.#state = 'cancelled';
        break;
      case 'paused':
        this.#state = 'paused';
        break;
      default:
        break;
    }
    this.#events = [...this.#events, event];
    if (event.type === 'result' || event.type === 'failed' || event.type === 'cancelled' || event.type === 'paused') {
      this.#outcome = event;
      this.detach();
      this.#settle?.(event);
      this.#settle = undefined;
    }
  }

  /** Follows a job that is already running (found by jobs() when the tab was reopened). */
  attach(jobId: string): void {
    this.detach();
    this.#jobId = jobId;
    this.#state = 'running';
    this.#unsubscribe = this.#client.onJobEvent(jobId, (event) => { this.apply(event); });
  }

  #reset(): void {
    this.#progress = undefined;
    this.#speeds = [];
    this.#failedFiles = [];
    this.#doneFiles = 0;
    this.#outcome = undefined;
    this.#error = undefined;
    this.#events = [];
    this.#retrying = undefined;
  }

  async #begin(call: () => Promise<{ jobId: string }>): Promise<OutcomeEvent | undefined> {
    this.detach();
    this.#state = 'starting';
    this.#outcome = undefined;
    const settled = new Promise<OutcomeEvent>((resolve) => { this.#settle = resolve; });
    try {
      const { jobId } = await call();
      this.attach(jobId);
    } catch (error) {
      this.#state = 'failed';
      this.#error = toClientError(error);
      this.#settle = undefined;
      return undefined;
    }
    return settled;
  }

  async #call(call: () => Promise<void>): Promise<void> {
    try {
      await call();
    } catch (error) {
      this.#error = toClientError(error);
    }
  }
}
