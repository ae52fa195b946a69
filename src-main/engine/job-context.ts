import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FerryError } from '../base/errors.js';
import { ProgressTracker, type ProgressStep } from '../base/progress.js';
import type { HttpClient } from '../net/index.js';
import { JOB_DEFAULTS } from './defaults.js';
import { describeValue } from './job-input.js';
import type { LoadedSource } from '../contract/index.js';
import type { JobEventBody, StreamInput, StreamRef, StreamSettings } from './api.js';
import { createStreamClient, loadStream, reloadableSource, type LoadedStream } from './stream.js';

/** What the engine as a whole holds for its jobs: where it runs, and the streams loaded so far. */
export interface EngineContext {
  env: NodeJS.ProcessEnv;
  cwd: string;
  streams: StreamRegistry;
}

/** What a job's code gets from the registry that runs it (jobs.ts). */
export interface JobContext extends EngineContext {
  jobId: string;
  /** Aborted by cancel() and pause(); its reason is a FERRY_CANCELLED FerryError. */
  signal: AbortSignal;
  emit: (event: JobEventBody) => void;
  /** Why the signal was aborted: `cancel` discards partial downloads, `pause` keeps them. */
  stopping: () => 'cancel' | 'pause' | undefined;
  /**
   * Partial downloads this job is writing. A cancelled job deletes those left (discardPartials);
   * a paused one keeps them for the run that resumes it.
   */
  partials: PartialDownloads;
  /**
   * Emits `target-needed` and waits for provideTarget (JobHandle) to answer a folder. Rejects with
   * the signal's FERRY_CANCELLED when the job is cancelled or paused while it waits.
   */
  askTarget: (request: TargetRequest) => Promise<string>;
}

/** What a `target-needed` event asks for (api.ts JobEvent), without its type and job id. */
export type TargetRequest = Omit<Extract<JobEventBody, { type: 'target-needed' }>, 'type'>;

/** A loaded stream with the settings it was loaded with, which its later jobs download with too. */
interface RegisteredStream {
  stream: LoadedStream;
  settings: StreamSettings;
  /** ISO 8601. */
  loadedAt: string;
}

/**
 * Streams loaded once and handed by id to query, plan and every job, so that a face showing the
 * catalog, then the plan, then syncing fetches and verifies the metadata once.
 */
export class StreamRegistry {
  readonly #streams = new Map<string, RegisteredStream>();

  add(stream: LoadedStream, settings: StreamSettings): string {
    const id = randomUUID();
    this.#streams.set(id, { stream, settings, loadedAt: new Date().toISOString() });
    return id;
  }

  /** Every loaded stream with its verification state, oldest first: what a source screen lists. */
  list(): LoadedSource[] {
    return [...this.#streams].map(([streamId, { stream, loadedAt }]) => ({
      streamId,
      source: stream.source.display,
      trust: stream.trust,
      metadataFiles: stream.metadataFiles.length,
      loadedAt,
    }));
  }

  /** Throws FERRY_INPUT_INVALID (field `streamId`) for an id this engine has not loaded or has released. */
  get(streamId: string): RegisteredStream {
    const found = typeof streamId === 'string' ? this.#streams.get(streamId) : undefined;
    if (found === undefined) {
      throw new FerryError('FERRY_INPUT_INVALID', `No loaded stream has the id ${describeValue(streamId)}.`, {
        field: 'streamId',
        expected: 'the streamId of a load job that succeeded in this engine',
        actual: describeValue(streamId),
      });
    }
    return found;
  }

  /**
   * What loads stream `streamId` again in another engine process (the app restarted): its source
   * as reloadableSource names it, and its settings with file names made absolute against `cwd`.
   * Throws FERRY_INPUT_INVALID as get() does.
   */
  reloadInput(streamId: string, cwd: string): StreamInput {
    const { stream, settings } = this.get(streamId);
    return { ...absoluteSettings(settings, cwd), ...reloadableSource(stream.source) };
  }

  /** Forgets a stream (its metadata bytes are the bulk of an engine's memory); jobs running on it keep their copy. */
  release(streamId: string): boolean {
    return this.#streams.delete(streamId);
  }
}

export class PartialDownloads {
  readonly #paths = new Set<string>();
  #discarded = 0;

  get discarded(): number {
    return this.#discarded;
  }

  started(path: string): void {
    this.#paths.add(path);
  }

  /** The file is verified and in place: its partial file is gone. */
  placed(path: string): void {
    this.#paths.delete(path);
  }

  /**
   * Deletes every partial download still listed, for a cancelled job. Called by the job while it
   * still holds its lock, so no other run can have started resuming one of them.
   */
  async discard(): Promise<void> {
    const paths = [...this.#paths];
    this.#paths.clear();
    await Promise.all(paths.map((path) => rm(path, { force: true })));
    this.#discarded += paths.length;
  }
}

/** `settings` with its keyring and certificate files made absolute against `cwd`, so that they name the same files from any directory. */
export function absoluteSettings<Settings extends StreamSettings>(settings: Settings, cwd: string): Settings {
  const absolute = (files: readonly string[] | undefined): string[] | undefined => files?.map((file) => resolve(cwd, file));
  return { ...settings, keyringFiles: absolute(settings.keyringFiles), caCertFiles: absolute(settings.caCertFiles) };
}

export function isStreamId(ref: StreamRef | StreamSettings): ref is { streamId: string } {
  return 'streamId' in ref;
}

/**
 * The stream a job works on, and an HTTP client for its files made with the stream's settings (the
 * caller closes it). A stream given by id is used as loaded; one given as a source is loaded here,
 * reporting progress (step `load`) and retries as the job's events.
 */
export async function acquireStream(
  ref: StreamRef,
  context: JobContext,
  transfer: { connectionsPerHost?: number | undefined; progressIntervalMs?: number | undefined },
): Promise<{ stream: LoadedStream; client: HttpClient; settings: StreamSettings }> {
  if (isStreamId(ref)) {
    const { stream, settings } = context.streams.get(ref.streamId);
    return { stream, client: createJobClient(settings, context, transfer.connectionsPerHost), settings };
  }
  const client = createJobClient(ref, context, transfer.connectionsPerHost);
  try {
    return { stream: await loadWithProgress(ref, context, client, transfer.progressIntervalMs), client, settings: ref };
  } catch (error) {
    await client.close();
    throw error;
  }
}

export function createJobClient(settings: StreamSettings, context: JobContext, connectionsPerHost: number | undefined): HttpClient {
  return createStreamClient({
    proxy: settings.proxy,
    caCertFiles: settings.caCertFiles?.map((file) => resolve(context.cwd, file)),
    retries: settings.retries,
    stallTimeoutMs: settings.stallTimeoutMs,
    env: context.env,
    connectionsPerHost: connectionsPerHost ?? JOB_DEFAULTS.connectionsPerHost,
    onRetry: context.emit,
  });
}

export function loadWithProgress(input: StreamInput, context: JobContext, client: HttpClient, intervalMs: number | undefined): Promise<LoadedStream> {
  const progress = stepProgress(context, 'load', { files: 0, bytes: 0 }, intervalMs);
  return loadStream({ ...input, cwd: context.cwd, signal: context.signal, client, progress });
}

/** A tracker whose snapshots become the job's progress events for one step; the caller finishes it. */
export function stepProgress(
  context: Pick<JobContext, 'jobId' | 'emit'>,
  step: ProgressStep,
  totals: { files: number; bytes: number },
  intervalMs: number | undefined,
): ProgressTracker {
  return new ProgressTracker({
    jobId: context.jobId,
    step,
    filesTotal: totals.files,
    bytesTotal: totals.bytes,
    intervalMs,
    emit: (progress) => {
      context.emit({ type: 'progress', progress });
    },
  });
}
