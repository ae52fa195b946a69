// What the renderer needs from the engine, as one interface. The method names are the engine's
// (src-main/engine/engine.ts Engine) and the data its plain types (api.ts), so the contract's client
// (one client over WebSocket or Electron IPC) drops in without changing a screen. The renderer
// imports only types from the engine: it never runs engine code.
import type { SerializedFerryError } from '../../src-main/base/errors.js';
import type { JobEvent, JobInputs, JobKind, JobStatus, PlanSummary, SelectionGroups, SyncInput } from '../../src-main/engine/api.js';
import type { DriveListing } from '../../src-main/engine/drives.js';
import type { SelectionRequest } from '../../src-main/engine/engine.js';
import type { LibrarySummary } from '../../src-main/engine/library.js';
import type { ProductSummary } from '../../src-main/engine/query.js';

export type { DriveListing, JobEvent, JobKind, JobStatus, LibrarySummary, PlanSummary, ProductSummary, SelectionGroups, SerializedFerryError, SyncInput };

/**
 * Inputs of the media jobs (issue 9), as docs/bundle.md and `ferry export|verify|import` describe
 * them. They are built on other branches; at merge these give way to the engine's JobInputs.
 */
export interface MediaJobInputs {
  export: {
    to: string;
    library?: string | undefined;
    selection?: SelectionGroups | undefined;
    profile?: string | undefined;
    site?: string | undefined;
    since?: string | undefined;
    eject?: boolean | undefined;
  };
  verify: { bundles: string[] };
  import: { bundles: string[]; into: string; prune?: boolean | undefined };
}

/** What the media jobs end with, as far as the screens read it (provisional, like their inputs). */
export interface MediaOutcomes {
  export: {
    bundleDir: string;
    /** Written, verified and ejected are separate outcomes (prior art §0.4); each failure says what to do. */
    written: { ok: boolean; message: string };
    verified: { ok: boolean; message: string };
    ejected: { ok: boolean; message: string } | undefined;
  };
  verify: {
    complete: boolean;
    valid: boolean;
    files: Array<{ path: string; state: 'ok' | 'missing' | 'bad'; message?: string | undefined }>;
  };
  import: { into: string; maasCommands: string[] };
}

export type AnyJobKind = JobKind | keyof MediaJobInputs;
export type AnyJobInputs = JobInputs & MediaJobInputs;

/** An error as it crosses the contract: `{code, message, hint}` (issue 10 §1). */
export interface ClientError {
  code: string;
  message: string;
  hint?: string | undefined;
}

export interface FerryClient {
  startJob<K extends AnyJobKind>(kind: K, input: AnyJobInputs[K]): Promise<{ jobId: string }>;
  resumeJob(jobId: string): Promise<{ jobId: string }>;
  pauseJob(jobId: string): Promise<void>;
  cancelJob(jobId: string): Promise<void>;
  jobs(): Promise<JobStatus[]>;
  /** Every event of one job from now on, starting with none of its past (read jobs() for that). */
  onJobEvent(jobId: string, listener: (event: JobEvent) => void): () => void;
  products(streamId: string, request: SelectionRequest): Promise<ProductSummary[]>;
  plan(kind: 'sync', input: SyncInput): Promise<PlanSummary>;
  librarySummary(input: { library?: string | undefined }): Promise<LibrarySummary>;
  drives(input: { showSystem?: boolean | undefined }): Promise<DriveListing>;
}

/** Reads `{code, message, hint}` out of whatever a call rejected with. */
export function toClientError(error: unknown): ClientError {
  if (typeof error === 'object' && error !== null && 'code' in error && 'message' in error) {
    const { code, message } = error as { code: unknown; message: unknown };
    const hint = 'hint' in error && typeof error.hint === 'string' ? error.hint : undefined;
    return { code: String(code), message: String(message), hint };
  }
  return { code: 'FERRY_INTERNAL', message: error instanceof Error ? error.message : String(error), hint: 'This is a bug in Stream Ferry; please report it with the steps that led here.' };
}
