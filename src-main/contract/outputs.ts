// What the engine answers and tells, as zod schemas: job outcomes, the job events (one `Progress`
// shape among them), job status and the errors that cross a boundary. engine/api.ts derives its
// types from these; shapes owned by a domain folder (Progress in base/, the repair reports in
// library/, Drive in media/) are checked against them at compile time in engine/contract-checks.ts,
// so the two cannot drift apart. Clients may parse what they receive with these schemas.

import { z } from 'zod';
import { ERROR_CODES, type FerryErrorCode } from '../base/errors.js';
import { jobInputSchemas, jobKindSchema, type JobKind } from './inputs.js';

const errorCodes = Object.keys(ERROR_CODES) as FerryErrorCode[];

/** A FerryError as plain data: its code, message, hint and facts (see base/errors.ts). */
export const serializedErrorSchema = z.object({
  name: z.literal('FerryError'),
  code: z.enum(errorCodes as [FerryErrorCode, ...FerryErrorCode[]]),
  message: z.string(),
  hint: z.string().optional(),
  url: z.string().optional(),
  path: z.string().optional(),
  expected: z.string().optional(),
  actual: z.string().optional(),
  status: z.number().optional(),
  errno: z.string().optional(),
  keyId: z.string().optional(),
  limit: z.number().optional(),
  setting: z.string().optional(),
  field: z.string().optional(),
});

/** A failure that is not a FerryError (a bug), as plain data. */
export const internalErrorSchema = z.object({ name: z.literal('InternalError'), message: z.string() });

/**
 * An error as it crosses the API: `{code, message, hint}` plus the facts a face may point at. A bug
 * crosses with code `FERRY_INTERNAL`, which no FerryError has, so a client can tell "the engine
 * failed" from every refusal.
 */
export const apiErrorSchema = serializedErrorSchema.omit({ name: true, code: true }).extend({
  code: z.union([serializedErrorSchema.shape.code, z.literal('FERRY_INTERNAL')]),
});

const fileProgressSchema = z.object({ name: z.string(), bytesDone: z.number(), bytesTotal: z.number(), speed: z.number() });

/** The one progress shape every long operation reports (base/progress.ts). */
export const progressSchema = z.object({
  jobId: z.string(),
  step: z.enum(['load', 'verify-existing', 'download', 'place', 'remove', 'metadata']),
  bytesDone: z.number(),
  bytesTotal: z.number(),
  filesDone: z.number(),
  filesTotal: z.number(),
  speed: z.number(),
  eta: z.number().nullable(),
  current: z.array(fileProgressSchema),
});

const repairFindingSchema = z.enum(['interrupted-run', 'tampering-or-lost-catalog']);
const libraryRepairReportSchema = z.object({
  finding: repairFindingSchema,
  tempFilesRemoved: z.number(),
  partialFilesKept: z.number(),
  blobRowsDropped: z.number(),
  blobFilesDeleted: z.number(),
  blobFilesAdopted: z.number(),
  blobsRehashed: z.number(),
  heldItemsDropped: z.number(),
  snapshotsDropped: z.number(),
});
const treeRepairReportSchema = z.object({
  finding: repairFindingSchema,
  tempFilesRemoved: z.number(),
  partialFilesKept: z.number(),
  treeFilesDropped: z.number(),
  heldItemsDropped: z.number(),
});
export const repairReportSchema = z.union([libraryRepairReportSchema, treeRepairReportSchema]);

export const streamTrustSchema = z.discriminatedUnion('kind', [
  /** `expiredKeys`: signers whose key has expired since signing, with the expiry (ISO 8601), to warn about. */
  z.object({
    kind: z.literal('verified'),
    signers: z.array(z.string()),
    keyringFiles: z.array(z.string()),
    expiredKeys: z.array(z.object({ fingerprint: z.string(), expiredAt: z.string() })),
  }),
  z.object({ kind: z.literal('unsigned-source') }),
  z.object({ kind: z.literal('skipped') }),
]);

export const loadOutcomeSchema = z.object({
  /** Hand this to query, products and jobs (`stream: { streamId }`). */
  streamId: z.string(),
  /** The source as the operator named it (preset name or URL, credentials removed). */
  source: z.string(),
  trust: streamTrustSchema,
  metadataFiles: z.number(),
  /** Products files, in index order, and the products each lists. */
  productsFiles: z.array(z.object({ contentId: z.string(), path: z.string(), products: z.number() })),
});

export const planSummarySchema = z.object({
  /** sstream-mirror's lines: `+ product version item path N Mb`, `- ...`, then `N Mb change`. */
  referenceLines: z.array(z.string()),
  versionsAdded: z.number(),
  versionsRemoved: z.number(),
  /** Distinct files the selection wants after the run. */
  filesWanted: z.number(),
  bytesWanted: z.number(),
  /** Of those, files that must be fetched (a dry run counts a file of the right size as present). */
  filesToFetch: z.number(),
  bytesToFetch: z.number(),
  /** Files present that --verify-existing re-hashes; each that proves wrong is fetched again. */
  filesToVerify: z.number(),
  bytesToVerify: z.number(),
  filesToRemove: z.number(),
  bytesToRemove: z.number(),
  /** Items that cannot be mirrored, with the reason. */
  rejected: z.array(z.object({ item: z.string(), error: serializedErrorSchema })),
});

export const mirrorOutcomeSchema = z.object({
  jobId: z.string(),
  dryRun: z.boolean(),
  trust: streamTrustSchema,
  plan: planSummarySchema,
  filesFetched: z.number(),
  bytesFetched: z.number(),
  filesPresent: z.number(),
  removedPaths: z.array(z.string()),
  failures: z.array(z.object({ path: z.string(), url: z.string(), error: serializedErrorSchema })),
  metadataWritten: z.array(z.string()),
});

export const syncOutcomeSchema = mirrorOutcomeSchema.extend({
  libraryDir: z.string(),
  /** The saved selection that was run or saved, if any. */
  profile: z.string().optional(),
  /** The snapshot recorded for this run's metadata; undefined after failures or in a dry run. */
  snapshotId: z.number().optional(),
});

export const gcOutcomeSchema = z.object({
  libraryDir: z.string(),
  dryRun: z.boolean(),
  /** The job recorded in the catalog; undefined for a dry run, which records nothing. */
  jobId: z.string().optional(),
  removedBlobs: z.array(z.object({ sha256: z.string(), size: z.number() })),
  removedPartials: z.array(z.object({ name: z.string(), size: z.number() })),
  /** Partial downloads kept because the last sync did not finish and a rerun resumes them. */
  partialsKept: z.number(),
  bytesFreed: z.number(),
});

/** The outcome of each kind of job; a kind is added here and in jobInputSchemas together. */
export const jobOutcomeSchemas = {
  load: loadOutcomeSchema,
  mirror: mirrorOutcomeSchema,
  sync: syncOutcomeSchema,
  gc: gcOutcomeSchema,
} as const satisfies Record<JobKind, z.ZodType>;

// A sync outcome is a mirror outcome and more, so it is tried first.
const jobOutcomeSchema = z.union([loadOutcomeSchema, syncOutcomeSchema, mirrorOutcomeSchema, gcOutcomeSchema]);

const stamped = { jobId: z.string() };

/** A request is tried again after `delayMs`: what failed, and whether the server set the wait. */
export const retryEventSchema = z.object({
  type: z.literal('retry'),
  ...stamped,
  url: z.string(),
  /** The attempt that failed (1-based) and the most that will be made. */
  attempt: z.number(),
  maxAttempts: z.number(),
  delayMs: z.number(),
  /** true: the server asked for this wait with Retry-After (capped at 120 s). */
  retryAfter: z.boolean(),
  cause: serializedErrorSchema,
});

const loadedEventSchema = z.object({ type: z.literal('loaded'), ...stamped, source: z.string(), trust: streamTrustSchema, metadataFiles: z.number() });
const resultEventSchema = z.object({ type: z.literal('result'), ...stamped, kind: jobKindSchema, outcome: jobOutcomeSchema });
const failedEventSchema = z.object({ type: z.literal('failed'), ...stamped, kind: jobKindSchema, error: z.union([serializedErrorSchema, internalErrorSchema]) });
/** Stopped by cancel(): the partial downloads it started are deleted. */
const cancelledEventSchema = z.object({ type: z.literal('cancelled'), ...stamped, kind: jobKindSchema, reason: serializedErrorSchema, partialsDiscarded: z.number() });
/** Stopped by pause(): partial downloads are kept, and starting the job again continues them. */
const pausedEventSchema = z.object({ type: z.literal('paused'), ...stamped, kind: jobKindSchema, reason: serializedErrorSchema });

/** The events that end a job: nothing follows one of these. */
export const outcomeEventSchema = z.discriminatedUnion('type', [resultEventSchema, failedEventSchema, cancelledEventSchema, pausedEventSchema]);

/**
 * Everything a job tells its subscribers, each stamped with the job's id. The last event of a job
 * is its outcome: `result`, `failed`, `cancelled` or `paused`; nothing follows it.
 */
export const jobEventSchema = z.discriminatedUnion('type', [
  loadedEventSchema,
  z.object({ type: z.literal('repaired'), ...stamped, report: repairReportSchema }),
  z.object({ type: z.literal('plan'), ...stamped, plan: planSummarySchema }),
  z.object({ type: z.literal('progress'), ...stamped, progress: progressSchema }),
  z.object({ type: z.literal('file-done'), ...stamped, path: z.string(), outcome: z.enum(['fetched', 'present']) }),
  z.object({ type: z.literal('file-failed'), ...stamped, path: z.string(), url: z.string(), error: serializedErrorSchema }),
  z.object({ type: z.literal('removed'), ...stamped, path: z.string() }),
  z.object({ type: z.literal('metadata-written'), ...stamped, paths: z.array(z.string()) }),
  retryEventSchema,
  resultEventSchema,
  failedEventSchema,
  cancelledEventSchema,
  pausedEventSchema,
]);

/**
 * A job's state. `interrupted`: the engine that ran it stopped (a crash, a kill, a closed app)
 * before it ended; like a paused job it can be resumed, which runs its input again and continues
 * its partial downloads.
 */
export const jobStateSchema = z.enum(['running', 'succeeded', 'failed', 'cancelled', 'paused', 'interrupted']);

const jobInputSchema = z.union([jobInputSchemas.load, jobInputSchemas.mirror, jobInputSchemas.sync, jobInputSchemas.gc]);

/** What a subscriber that attaches late needs to draw a job: its latest state, not its history. */
export const jobStatusSchema = z.object({
  id: z.string(),
  kind: jobKindSchema,
  input: jobInputSchema,
  state: jobStateSchema,
  /** ISO 8601. */
  startedAt: z.string(),
  /** The paused or interrupted job this one resumes. */
  resumes: z.string().optional(),
  loaded: loadedEventSchema.optional(),
  plan: planSummarySchema.optional(),
  progress: progressSchema.optional(),
  /** The last event, once the job has ended. */
  outcome: outcomeEventSchema.optional(),
});

export type SerializedError = z.infer<typeof serializedErrorSchema>;
export type InternalErrorData = z.infer<typeof internalErrorSchema>;
export type ApiError = z.infer<typeof apiErrorSchema>;
export type ProgressData = z.infer<typeof progressSchema>;
export type RepairReport = z.infer<typeof repairReportSchema>;
export type StreamTrust = z.infer<typeof streamTrustSchema>;
export type LoadOutcome = z.infer<typeof loadOutcomeSchema>;
export type PlanSummary = z.infer<typeof planSummarySchema>;
export type MirrorOutcome = z.infer<typeof mirrorOutcomeSchema>;
export type SyncOutcome = z.infer<typeof syncOutcomeSchema>;
export type GcOutcome = z.infer<typeof gcOutcomeSchema>;
export type JobOutcomes = { [K in JobKind]: z.infer<(typeof jobOutcomeSchemas)[K]> };
export type RetryEvent = z.infer<typeof retryEventSchema>;
export type JobEvent = z.infer<typeof jobEventSchema>;
export type OutcomeEvent = z.infer<typeof outcomeEventSchema>;
export type JobState = z.infer<typeof jobStateSchema>;
export type JobStatus = z.infer<typeof jobStatusSchema>;
