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
  step: z.enum(['load', 'verify-existing', 'download', 'place', 'remove', 'metadata', 'export', 'read-back']),
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

/**
 * What an operator should know about upstream's signatures and the keyring (engine/trust-warnings.ts):
 * how old the signatures are, and keys of the keyring that have expired or expire soon. Times are
 * ISO 8601; days are whole days.
 */
export const trustWarningSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('signature-age'), oldestSignedAt: z.string(), newestSignedAt: z.string(), days: z.number() }),
  z.object({ kind: z.literal('key-expired'), fingerprint: z.string(), expiredAt: z.string() }),
  z.object({ kind: z.literal('key-expires-soon'), fingerprint: z.string(), expiresAt: z.string(), days: z.number() }),
]);

export const streamTrustSchema = z.discriminatedUnion('kind', [
  /**
   * `expiredKeys`: signers whose key has expired since signing, with the expiry (ISO 8601), to warn
   * about. `warnings`: the signatures' age and the keyring's expired and soon-expiring keys.
   */
  z.object({
    kind: z.literal('verified'),
    signers: z.array(z.string()),
    keyringFiles: z.array(z.string()),
    expiredKeys: z.array(z.object({ fingerprint: z.string(), expiredAt: z.string() })),
    warnings: z.array(trustWarningSchema),
  }),
  z.object({ kind: z.literal('unsigned-source') }),
  z.object({ kind: z.literal('skipped') }),
]);

/**
 * One verified signature of a metadata file (a stream's or a bundle's): which file, by which key,
 * made when (ISO 8601: the signature packet's creation time, which gpgv prints as "Signature made").
 */
export const signatureFactSchema = z.object({ path: z.string(), keyFingerprint: z.string(), signedAt: z.string() });

export const loadOutcomeSchema = z.object({
  /** Hand this to query, products and jobs (`stream: { streamId }`). */
  streamId: z.string(),
  /** The source as the operator named it (preset name or URL, credentials removed). */
  source: z.string(),
  trust: streamTrustSchema,
  metadataFiles: z.number(),
  /** Products files, in index order, and the products each lists. */
  productsFiles: z.array(z.object({ contentId: z.string(), path: z.string(), products: z.number() })),
  /** Each metadata file's verified signature, in the order they were read (the entry file first); empty when not verified. */
  signatures: z.array(signatureFactSchema),
});

/** Why a selection matched nothing (streams/diagnose.ts), as data for the faces to word. */
// Read-only lists, as streams/ hands them out (engine/contract-checks.ts compares the two).
export const noMatchReportSchema = z.object({
  /** Every filter of the selection, in order, once each. */
  filters: z.array(z.string()).readonly(),
  /** Filters on a key no item has (a missing key reads as '', as in the reference), with the nearest keys items have. */
  unknownKeys: z.array(z.object({ filter: z.string(), key: z.string(), nearestKeys: z.array(z.string()).readonly() })).readonly(),
  /** Filters on a key that exists, that match no item even alone, with near or first existing values. */
  unmatchedValues: z.array(z.object({ filter: z.string(), key: z.string(), nearestValues: z.array(z.string()).readonly() })).readonly(),
  /** Groups whose filters on different keys each match some item alone but none together: likely meant as alternatives (--or). */
  andedAlternatives: z.array(z.array(z.string()).readonly()).readonly(),
  /** `=` filters on one key ANDed in a group, with the one search filter that takes any of their values and the group rewritten with it. */
  sameKeyAlternatives: z.array(z.object({ filters: z.array(z.string()).readonly(), regex: z.string(), group: z.array(z.string()).readonly() })).readonly(),
});

/** Advice on a selection of a stream, as data for the faces to word (see streams/diagnose.ts). */
export const selectionAdviceSchema = z.object({
  /** Set when the selection matched no item of the stream: why. */
  noMatch: noMatchReportSchema.optional(),
  /** MAAS images selected, but none of the stream's bootloaders. */
  lacksBootloaders: z.boolean(),
});

/** One item of the plan, as structured data: a `+` or `-` line of referenceLines. */
export const planEntrySchema = z.object({
  change: z.enum(['add', 'remove']),
  contentId: z.string(),
  product: z.string(),
  version: z.string(),
  item: z.string(),
  path: z.string(),
  /** Bytes. */
  size: z.number(),
});

export const planSummarySchema = z.object({
  /** sstream-mirror's lines: `+ product version item path N Mb`, `- ...`, then `N Mb change`. */
  referenceLines: z.array(z.string()),
  /** The sizes of the `+` lines, summed as sstream-mirror sums them (a shared file once per item). */
  bytesAdded: z.number(),
  /** The `+` and `-` lines as data, in the same order (what `--json` scripts read). */
  entries: z.array(planEntrySchema),
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
  /** What stands out about the selection (nothing matched, no bootloaders). */
  advice: selectionAdviceSchema,
});

/** A product a mirror or library holds after the run, by the fields MAAS selects images with (absent: not in the metadata). */
export const mirroredProductSchema = z.object({
  contentId: z.string(),
  product: z.string(),
  os: z.string().optional(),
  release: z.string().optional(),
  arch: z.string().optional(),
  subarch: z.string().optional(),
  label: z.string().optional(),
  /** Set for bootloader products (e.g. `uefi`, `pxe`), which MAAS takes without a selection. */
  bootloaderType: z.string().optional(),
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
  /** The products the selection holds after the run (added and kept), in metadata order. */
  mirrored: z.array(mirroredProductSchema),
  /**
   * Products the stream's metadata lists that the selection left out. The metadata is copied
   * verbatim (as sstream-mirror does), so MAAS lists them as available although their files are
   * not in the mirror.
   */
  productsNotMirrored: z.number(),
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

/** A blob of a bundle that is missing or bad, and the tree files it is for. */
export const bundleBlobProblemSchema = z.object({
  sha256: z.string(),
  /** The tree paths that have these bytes. */
  paths: z.array(z.string()),
  /** The stored file (blob or part) relative to its volume's directory, when one is named. */
  storagePath: z.string().nullable(),
  /** The volume expected to hold it, when known. */
  volume: z.number().nullable(),
  error: serializedErrorSchema,
});

/** The base of an incremental bundle: the ledger's latest export to the site, or a receipt; null for a full bundle. */
const bundleBaseSchema = z.object({ kind: z.enum(['site', 'receipt']), id: z.string() }).nullable();

/** What a bundle is and what its signatures say: shared by verify and import. */
export const bundleSummarySchema = z.object({
  bundleId: z.string(),
  created: z.string(),
  /** Volume indexes given and still missing, of `count`. */
  volumes: z.object({ given: z.array(z.number()), missing: z.array(z.number()), count: z.number() }),
  base: bundleBaseSchema,
  trust: streamTrustSchema,
  signatures: z.array(signatureFactSchema),
});

export const verifyOutcomeSchema = bundleSummarySchema.extend({
  /** Every blob of every file is on a volume given (an incremental bundle's blobs expected at the site excepted). */
  complete: z.boolean(),
  /** Every blob and part present has the size and sha256 bundle.json lists. */
  valid: z.boolean(),
  missing: z.array(bundleBlobProblemSchema),
  bad: z.array(bundleBlobProblemSchema),
  /** Blobs an incremental bundle does not carry because the site holds them. */
  atSite: z.array(z.object({ sha256: z.string(), paths: z.array(z.string()) })),
  blobsChecked: z.number(),
  bytesChecked: z.number(),
});

/** `maas` commands that make MAAS import the tree: plain data, for the CLI and the app alike. */
export const maasCommandsSchema = z.object({
  /** The boot-source URL used, and whether it is a guess the operator should adjust. */
  url: z.string(),
  urlIsGuess: z.boolean(),
  keyringFilename: z.string(),
  /** Why that keyring: the Ubuntu cloud image keyring MAAS ships, or the bundle's, to copy to the region controller. */
  keyringNote: z.string(),
  /** In order (engine/maas.ts maasCommandsFor): the boot source, one selection per os and release, the import. */
  commands: z.array(z.object({ purpose: z.string(), argv: z.array(z.string()) })),
});

export const importOutcomeSchema = bundleSummarySchema.extend({
  target: z.string(),
  /** Every file of the bundle is at its final path and verified, and the metadata is published. */
  complete: z.boolean(),
  filesWritten: z.array(z.string()),
  filesKept: z.number(),
  bytesWritten: z.number(),
  /** Files no volume given and no file in the target could supply. */
  missing: z.array(bundleBlobProblemSchema),
  metadataWritten: z.array(z.string()),
  pruned: z.array(z.string()),
  /** Null until the import is complete. */
  maas: maasCommandsSchema.nullable(),
});

/** The export verdict, given before anything is written. */
export const exportPlanSummarySchema = z.object({
  layout: z.enum(['bundle', 'tree']),
  /** Files of the tree the bundle describes (metadata and items). */
  files: z.number(),
  /** Distinct blobs of those files, and how many (and bytes) this bundle carries. */
  blobs: z.number(),
  blobsCarried: z.number(),
  bytesCarried: z.number(),
  bytesNeeded: z.number(),
  marginBytes: z.number(),
  /** null where the file system does not report it (fusefat). */
  freeBytes: z.number().nullable(),
  /** The target's file system as detected (`vfat`, `ext4`, ...) and the rules it is judged by. */
  fsType: z.string(),
  filesystem: z.enum(['fat32', 'exfat', 'ntfs', 'ext4']).nullable(),
  volumes: z.number(),
  /** Blobs split into parts. */
  splitBlobs: z.number(),
  base: bundleBaseSchema,
  /** Names only Windows refuses on this file system, recorded. */
  warnings: z.array(z.string()),
});

/** media/eject.ts EjectOutcome (checked equal in engine/contract-checks.ts). */
export const ejectOutcomeSchema = z.discriminatedUnion('kind', [
  /** Unmounted; `poweredOff` when the drive was also stopped. */
  z.object({ kind: z.literal('ejected'), mountPoint: z.string(), device: z.string().nullable(), poweredOff: z.boolean(), tool: z.string() }),
  /** Something still uses the drive; `holders` are the processes found (none where the platform cannot tell). */
  z.object({
    kind: z.literal('busy'),
    mountPoint: z.string(),
    holders: z.array(z.object({ pid: z.number(), command: z.string() })),
    tool: z.string(),
    message: z.string(),
  }),
  /** The tool refused or could not run; `message` is its own output. */
  z.object({ kind: z.literal('failed'), mountPoint: z.string(), tool: z.string(), message: z.string() }),
  /** A folder on a system disk, a network share or a RAM disk: there is nothing to eject. */
  z.object({ kind: z.literal('not-a-drive'), path: z.string(), reason: z.string() }),
]);

export const exportOutcomeSchema = z.object({
  jobId: z.string(),
  dryRun: z.boolean(),
  bundleId: z.string(),
  /** Each volume's directory (the tree's root for the tree layout), volume 1 first. */
  directories: z.array(z.string()),
  plan: exportPlanSummarySchema,
  /** Every file reached its final path: how many were written and how many an earlier run had; null in a dry run. */
  written: z.object({ blobsWritten: z.number(), blobsKept: z.number(), bytesWritten: z.number() }).nullable(),
  /**
   * Every blob or part read back and re-hashed: `direct` around the page cache (O_DIRECT), `cached`
   * where the file system refused that, `mixed` when both happened. `bad` names each that differs.
   * null in a dry run.
   */
  verified: z
    .object({
      files: z.number(),
      bytes: z.number(),
      method: z.enum(['direct', 'cached', 'mixed']),
      bad: z.array(z.object({ path: z.string(), expected: z.string(), actual: z.string() })),
    })
    .nullable(),
  /**
   * After written and verified: the drive's eject (ejected, busy, failed, or not-a-drive for a
   * plain folder); `not-requested` with `eject: false`; null in a dry run or when a blob read back
   * wrong (the drive stays mounted to be looked at).
   */
  ejected: z.union([ejectOutcomeSchema, z.object({ kind: z.literal('not-requested') })]).nullable(),
  /** How old those signatures are, and the keyring's expired or soon-expiring keys (as a stream's trust.warnings). */
  trustWarnings: z.array(trustWarningSchema),
  /** Upstream's signatures as verified at export (the metadata files, their signers and dates). */
  signatures: z.array(signatureFactSchema),
  /** The export was recorded in the library's ledger for this site. */
  ledgerSite: z.string().nullable(),
});

/** The outcome of each kind of job; a kind is added here and in jobInputSchemas together. */
export const jobOutcomeSchemas = {
  load: loadOutcomeSchema,
  mirror: mirrorOutcomeSchema,
  sync: syncOutcomeSchema,
  gc: gcOutcomeSchema,
  verify: verifyOutcomeSchema,
  import: importOutcomeSchema,
  export: exportOutcomeSchema,
} as const satisfies Record<JobKind, z.ZodType>;

// A union answers the first branch that fits and drops the fields that branch does not name, so a
// sync outcome (a mirror outcome and more) is tried before a mirror outcome.
const jobOutcomeSchema = z.union([loadOutcomeSchema, syncOutcomeSchema, mirrorOutcomeSchema, gcOutcomeSchema, verifyOutcomeSchema, importOutcomeSchema, exportOutcomeSchema]);

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

/**
 * An export carried on one drive after another waits for the folder the next drive is mounted at
 * (engine provideTarget, call jobs.provideTarget); cancel ends the wait. `bytes`: the free space
 * volume `volume` needs there, margin included. `problem`: why the folder given last was refused
 * (null on the first ask for this volume).
 */
export const targetNeededEventSchema = z.object({
  type: z.literal('target-needed'),
  ...stamped,
  volume: z.number(),
  volumes: z.number(),
  bytes: z.number(),
  /** The volumes this run has written and verified so far, in the order written, with their folders. */
  done: z.array(z.object({ volume: z.number(), directory: z.string() })),
  problem: z.string().nullable(),
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
  /** An export's verdict, before anything is written (also before a dry run's result). */
  z.object({ type: z.literal('export-verdict'), ...stamped, plan: exportPlanSummarySchema }),
  z.object({ type: z.literal('progress'), ...stamped, progress: progressSchema }),
  z.object({ type: z.literal('file-done'), ...stamped, path: z.string(), outcome: z.enum(['fetched', 'present']) }),
  z.object({ type: z.literal('file-failed'), ...stamped, path: z.string(), url: z.string(), error: serializedErrorSchema }),
  z.object({ type: z.literal('removed'), ...stamped, path: z.string() }),
  z.object({ type: z.literal('metadata-written'), ...stamped, paths: z.array(z.string()) }),
  targetNeededEventSchema,
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

// The kinds whose inputs need the most fields first, as the union keeps the first that fits: an
// export input with a profile also fits sync's, and any input fits gc's, which would drop the rest.
const jobInputSchema = z.union([
  jobInputSchemas.export,
  jobInputSchemas.import,
  jobInputSchemas.verify,
  jobInputSchemas.load,
  jobInputSchemas.mirror,
  jobInputSchemas.sync,
  jobInputSchemas.gc,
]);

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
export type TrustWarning = z.infer<typeof trustWarningSchema>;
export type StreamTrust = z.infer<typeof streamTrustSchema>;
export type NoMatchReportData = z.infer<typeof noMatchReportSchema>;
export type SelectionAdvice = z.infer<typeof selectionAdviceSchema>;
export type LoadOutcome = z.infer<typeof loadOutcomeSchema>;
export type PlanEntry = z.infer<typeof planEntrySchema>;
export type PlanSummary = z.infer<typeof planSummarySchema>;
export type MirroredProduct = z.infer<typeof mirroredProductSchema>;
export type MirrorOutcome = z.infer<typeof mirrorOutcomeSchema>;
export type SyncOutcome = z.infer<typeof syncOutcomeSchema>;
export type GcOutcome = z.infer<typeof gcOutcomeSchema>;
export type SignatureFact = z.infer<typeof signatureFactSchema>;
export type BundleBlobProblem = z.infer<typeof bundleBlobProblemSchema>;
export type BundleSummary = z.infer<typeof bundleSummarySchema>;
export type VerifyOutcome = z.infer<typeof verifyOutcomeSchema>;
export type MaasCommands = z.infer<typeof maasCommandsSchema>;
export type ImportOutcome = z.infer<typeof importOutcomeSchema>;
export type ExportPlanSummary = z.infer<typeof exportPlanSummarySchema>;
export type ExportOutcome = z.infer<typeof exportOutcomeSchema>;
export type EjectOutcomeData = z.infer<typeof ejectOutcomeSchema>;
export type JobOutcomes = { [K in JobKind]: z.infer<(typeof jobOutcomeSchemas)[K]> };
export type RetryEvent = z.infer<typeof retryEventSchema>;
export type JobEvent = z.infer<typeof jobEventSchema>;
export type OutcomeEvent = z.infer<typeof outcomeEventSchema>;
export type JobState = z.infer<typeof jobStateSchema>;
export type JobStatus = z.infer<typeof jobStatusSchema>;
