import type { LoadedSource, SelectionRequest } from '../contract/index.js';
import type { JobInputs, JobKind, JobStatus, LoadOutcome, MirrorInput, PlanSummary, SelectionAdvice, StreamInput, SyncInput } from './api.js';

export type { SelectionRequest };
import { createJobClient, loadWithProgress, StreamRegistry, type EngineContext, type JobContext } from './job-context.js';
import { plannedKind, selectionRequest } from './job-input.js';
import { portableInput } from './job-rerun.js';
import { JobRegistry, type JobHandle, type JobRunners } from './jobs.js';
import { runGc, runLibrarySummary, type LibrarySummary } from './library.js';
import { runExport } from './export-job.js';
import { runMirror } from './mirror-job.js';
import { adviseSelection, queryItems, summarizeProducts, type ProductSummary, type QueryItem } from './query.js';
import { runSync } from './sync-job.js';
import { runImport, runVerify } from './bundle-jobs.js';
import { writeReceipt } from './receipt.js';
import type { Receipt } from '../media/bundle/manifest.js';

export interface EngineOptions {
  /** The environment proxies and the default library are read from; default process.env. */
  env?: NodeJS.ProcessEnv | undefined;
  /** What relative paths in inputs are relative to; default process.cwd(). */
  cwd?: string | undefined;
}

/**
 * The one facade every face uses. Long operations are jobs (startJob); quick reads of a loaded
 * stream or of the library are calls. A stream loaded once (a `load` job) serves query, products,
 * plan and every job given its id, so nothing is fetched or verified twice.
 */
export interface Engine {
  /**
   * Starts a job; its handle gives its id, events, cancel, pause and result. Throws
   * FERRY_INPUT_INVALID (naming the field) or FERRY_FILTER_INVALID for an input it cannot use,
   * before the job exists; each runner's docstring lists what its job fails with. `resumes`
   * names the paused or interrupted job this one continues (shown in its status).
   */
  startJob<K extends JobKind>(kind: K, input: JobInputs[K], resumes?: string): JobHandle<K>;
  /** Starts a paused job again from its input (see JobRegistry.resume). Throws FERRY_INPUT_INVALID. */
  resumeJob(jobId: string): JobHandle;
  /**
   * `input` in a form that runs the job again in another engine process, after a restart (see
   * portableInput): a stream given by id as its source and settings, relative paths absolute.
   * Throws FERRY_INPUT_INVALID (field `streamId`) for a stream this engine does not hold.
   */
  portableInput<K extends JobKind>(kind: K, input: JobInputs[K]): JobInputs[K];
  /** A running or recently ended job, for a second subscriber. */
  job(jobId: string): JobHandle | undefined;
  jobs(): JobStatus[];
  /**
   * sstream-query's flattened items. Throws FERRY_INPUT_INVALID naming the field (`streamId`
   * unknown; `request`, `selection`, `max` malformed), FERRY_FILTER_INVALID.
   */
  query(streamId: string, request: SelectionRequest): QueryItem[];
  /** One row per product with a selected item. Throws as query does. */
  products(streamId: string, request: SelectionRequest): ProductSummary[];
  /** Advice on the selection (why nothing matched, missing bootloaders); throws as query does. */
  advise(streamId: string, request: SelectionRequest): SelectionAdvice;
  /**
   * What a mirror or sync would do, changing nothing: a dry run of that job (see startJob). Give
   * `stream: { streamId }` to plan against a loaded stream without fetching it again. Rejects
   * with FERRY_INPUT_INVALID (field `kind`) for a kind other than mirror or sync.
   */
  plan(kind: 'mirror', input: MirrorInput): Promise<PlanSummary>;
  plan(kind: 'sync', input: SyncInput): Promise<PlanSummary>;
  /** The streams loaded so far, with their verification state. */
  sources(): LoadedSource[];
  /** Forgets a loaded stream; false if the id was unknown. */
  releaseStream(streamId: string): boolean;
  /** `ferry library`. Throws FERRY_IO, FERRY_CATALOG_CORRUPT, FERRY_CATALOG_TOO_NEW. */
  librarySummary(input: { library?: string | undefined }): Promise<LibrarySummary>;
  /**
   * `ferry receipt`: hashes what the mirror tree `dir` publishes and holds, writes the receipt to
   * `out` (relative to the engine's cwd) and answers it. Throws what writeReceipt throws.
   */
  writeReceipt(input: { dir: string; out: string; site?: string | undefined }): Promise<Receipt>;
}

/** The `load` job: fetch, verify and parse a stream and keep it (see loadStream for what it throws). */
async function runLoad(input: StreamInput, context: JobContext): Promise<LoadOutcome> {
  const client = createJobClient(input, context, undefined);
  try {
    const stream = await loadWithProgress(input, context, client, undefined);
    context.emit({ type: 'loaded', source: stream.source.display, trust: stream.trust, metadataFiles: stream.metadataFiles.length });
    const { keyringFiles, verify, proxy, caCertFiles, retries, stallTimeoutMs } = input;
    return {
      streamId: context.streams.add(stream, { keyringFiles, verify, proxy, caCertFiles, retries, stallTimeoutMs }),
      source: stream.source.display,
      trust: stream.trust,
      metadataFiles: stream.metadataFiles.length,
      productsFiles: stream.products.map((products) => ({ contentId: products.contentId, path: products.file.path, products: products.document.products.length })),
      signatures: stream.signatures,
    };
  } finally {
    await client.close();
  }
}

const runners: JobRunners = {
  load: runLoad,
  mirror: runMirror,
  sync: runSync,
  gc: (input, context) => runGc({ library: input.library, dryRun: input.dryRun, env: context.env, cwd: context.cwd, jobId: context.jobId }),
  verify: runVerify,
  import: runImport,
  export: runExport,
};

export function createEngine(options: EngineOptions = {}): Engine {
  const context: EngineContext = { env: options.env ?? process.env, cwd: options.cwd ?? process.cwd(), streams: new StreamRegistry() };
  const registry = new JobRegistry(runners, context);
  const selected = (streamId: string, request: SelectionRequest): Parameters<typeof queryItems> => {
    // The request may come from a renderer that is not trusted, like a job's input.
    const { selection, max } = selectionRequest(request);
    return [context.streams.get(streamId).stream, selection, { max }];
  };
  return {
    startJob: (kind, input, resumes) => registry.start(kind, input, resumes),
    resumeJob: (jobId) => registry.resume(jobId),
    portableInput: (kind, input) => portableInput(kind, input, context),
    job: (jobId) => registry.get(jobId),
    jobs: () => registry.list(),
    query: (streamId, request) => queryItems(...selected(streamId, request)),
    products: (streamId, request) => summarizeProducts(...selected(streamId, request)),
    advise: (streamId, request) => {
      const [stream, selection, options] = selected(streamId, request);
      return adviseSelection(stream, selection, queryItems(stream, selection, options).length === 0);
    },
    plan: async (kind: 'mirror' | 'sync', input: MirrorInput | SyncInput) => {
      const handle = plannedKind(kind) === 'mirror' ? registry.start('mirror', { ...(input as MirrorInput), dryRun: true }) : registry.start('sync', { ...(input as SyncInput), dryRun: true });
      return (await handle.result).plan;
    },
    sources: () => context.streams.list(),
    releaseStream: (streamId) => context.streams.release(streamId),
    librarySummary: (input) => runLibrarySummary({ library: input.library, env: context.env, cwd: context.cwd }),
    writeReceipt: (input) => writeReceipt({ ...input, cwd: context.cwd }),
  };
}
