// What the screens need from the engine, as one small interface named after the engine's methods
// (engine.ts Engine), and fromContract(), which provides it over the contract's one client
// (src-main/contract/client.ts, WebSocket or MessagePort alike). The renderer runs no engine code.
import type { AuditRecord, ExportRecordData, LibrarySpace, Receipt, ReceiptRecord, SelectionAdvice } from '../../src-main/contract/index.js';
import type { CallOutput, DriveListingData, FerryClient as ContractClient, JobEvent, JobInputs, JobKind, JobOutcomes, JobStatus, LibrarySummaryData, PlanSummary, ProductSummary, SelectionGroups, SelectionRequest, SerializedError, SyncInput } from '../../src-main/contract/index.js';

export type { JobEvent, JobInputs, JobKind, JobOutcomes, JobStatus, PlanSummary, ProductSummary, SelectionGroups, SyncInput };
export type { AuditRecord, ExportRecordData, LibrarySpace, Receipt, ReceiptRecord, SelectionAdvice };
export type SerializedFerryError = SerializedError;
export type LibrarySummary = LibrarySummaryData;
export type DriveListing = DriveListingData;
export type LibraryProfile = CallOutput<'profiles.list'>[number];

/** An error as it crosses the contract: `{code, message, hint}` (issue 10 §1). */
export interface ClientError {
  code: string;
  message: string;
  hint?: string | undefined;
}

export interface FerryClient {
  startJob<K extends JobKind>(kind: K, input: JobInputs[K]): Promise<{ jobId: string }>;
  resumeJob(jobId: string): Promise<{ jobId: string }>;
  pauseJob(jobId: string): Promise<void>;
  cancelJob(jobId: string): Promise<void>;
  /** Answers an export's target-needed event with the folder its next drive is mounted at. */
  provideTarget(jobId: string, path: string): Promise<void>;
  jobs(): Promise<JobStatus[]>;
  /** Every event of one job from now on, starting with none of its past (read jobs() for that). */
  onJobEvent(jobId: string, listener: (event: JobEvent) => void): () => void;
  products(streamId: string, request: SelectionRequest): Promise<ProductSummary[]>;
  plan(kind: 'sync', input: SyncInput): Promise<PlanSummary>;
  librarySummary(input: { library?: string | undefined }): Promise<LibrarySummary>;
  drives(input: { showSystem?: boolean | undefined }): Promise<DriveListing>;
  profiles(input: { library?: string | undefined }): Promise<LibraryProfile[]>;
  // Source, Catalog, Plan, Offline and History screens
  advise(streamId: string, request: SelectionRequest): Promise<SelectionAdvice>;
  librarySpace(input: { library?: string | undefined }): Promise<LibrarySpace>;
  writeReceipt(input: { dir: string; out: string; site?: string | undefined }): Promise<Receipt>;
  exports(input: { library?: string | undefined }): Promise<ExportRecordData[]>;
  receipts(): Promise<ReceiptRecord[]>;
  audit(): Promise<AuditRecord[]>;
}

/** The screens' client over the contract's: each method is one call of the contract's table. */
export function fromContract(client: ContractClient): FerryClient {
  return {
    // TypeScript cannot narrow a generic K to one branch of the {kind, input} union; the engine checks the pair against its schema.
    startJob: (kind, input) => (kind === 'load' ? client.call('sources.load', input as JobInputs['load']) : client.call('jobs.start', { kind, input } as never)),
    resumeJob: (jobId) => client.call('jobs.resume', { jobId }),
    pauseJob: async (jobId) => { await client.call('jobs.pause', { jobId }); },
    cancelJob: async (jobId) => { await client.call('jobs.cancel', { jobId }); },
    provideTarget: async (jobId, path) => { await client.call('jobs.provideTarget', { jobId, path }); },
    jobs: () => client.call('jobs.list', {}),
    onJobEvent: (jobId, listener) => {
      // From the first event (since 0): a job that ended before this subscription still reports its outcome.
      const following = client.follow(jobId, (event) => { listener(event); }, 0);
      return () => { void following.then((handle) => handle.stop()).catch(() => undefined); };
    },
    products: (streamId, request) => client.call('catalog.products', { streamId, ...request }),
    plan: (kind, input) => client.call('plan', { kind, input }),
    librarySummary: (input) => client.call('library.summary', input),
    drives: (input) => client.call('drives.list', input),
    profiles: (input) => client.call('profiles.list', input),
    advise: (streamId, request) => client.call('catalog.advise', { streamId, ...request }),
    librarySpace: (input) => client.call('library.space', input),
    writeReceipt: (input) => client.call('receipts.write', input),
    exports: (input) => client.call('history.exports', input),
    receipts: () => client.call('history.receipts', {}),
    audit: () => client.call('history.audit', {}),
  };
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
