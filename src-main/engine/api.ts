// The plain-data side of the engine: what a job takes (inputs), what it tells (events) and what it
// ends with (outcomes). Everything here survives structuredClone and JSON unchanged (no RegExp, Map,
// Buffer, class instance or function), so the same values can cross Electron IPC or a WebSocket;
// test/unit/engine/plain-data.test.ts proves it for every event type and every job kind.
// This file imports only types, so every engine file can use it without an import cycle.

import type { SerializedFerryError } from '../base/errors.js';
import type { Progress } from '../base/progress.js';
import type { LibraryRepairReport, TreeRepairReport } from '../library/index.js';
import type { EjectOutcome } from '../media/index.js';
import type { NoMatchReport } from '../streams/index.js';

// Inputs

/** How a stream's metadata and files are reached and trusted; kept with a loaded stream for its jobs. */
export interface StreamSettings {
  /** Keyring files; empty or absent means the bundled Ubuntu cloud image keyring. */
  keyringFiles?: string[] | undefined;
  /** false skips signature checks (the PGP framing of .sjson files is still required). Default true. */
  verify?: boolean | undefined;
  /** http(s) proxy URL; default: HTTPS_PROXY / HTTP_PROXY of the engine's environment, honouring NO_PROXY. */
  proxy?: string | undefined;
  /** Retries of one failed request, metadata or file (0 or more; default JOB_DEFAULTS.retries). */
  retries?: number | undefined;
  /** Longest wait of one request for the answer or for more data, in ms (1000 to 2^31 - 1, Node's longest timer; default JOB_DEFAULTS.stallTimeoutMs). */
  stallTimeoutMs?: number | undefined;
}

/** A stream to load: a preset (`stable`, `candidate`), an http(s) or file URL, or a local path. */
export interface StreamInput extends StreamSettings {
  source: string;
  /** Entry file relative to the mirror base: an index or a products file (sstream's --path). */
  path?: string | undefined;
}

/** A stream a job works on: one loaded before (by a `load` job), or one the job loads itself. */
export type StreamRef = { streamId: string } | StreamInput;

/** Filter groups as text: each group's filters are ANDed, groups are ORed (sstream filter syntax). */
export type SelectionGroups = string[][];

export interface TransferInput {
  /** Files downloading at once (default JOB_DEFAULTS.concurrency). */
  concurrency?: number | undefined;
  /** Connections kept per origin (default JOB_DEFAULTS.connectionsPerHost). */
  connectionsPerHost?: number | undefined;
  /** Time between progress events, in ms (1 to 2^31 - 1, Node's longest timer; default 200). */
  progressIntervalMs?: number | undefined;
  /** Write downloads around the page cache where the file system allows it (default true). */
  directIo?: boolean | undefined;
  /** Plan only: load, plan, emit the plan and change nothing. */
  dryRun?: boolean | undefined;
  /** Re-hash every file already present and fetch again what proves wrong. */
  verifyExisting?: boolean | undefined;
}

export interface MirrorInput extends TransferInput {
  stream: StreamRef;
  /** The mirror tree's directory (relative to the engine's cwd); created if missing. */
  target: string;
  selection: SelectionGroups;
  /** Keep the N newest versions of each product. */
  max?: number | undefined;
  /** With max: keep up to N versions even after they leave the source. */
  keep?: boolean | undefined;
  /** false records the metadata without fetching items (`--no-item-download`). Default true. */
  fetchItems?: boolean | undefined;
  /**
   * Other mirror bases (URLs or local paths, as a source is given) to fetch an item file from, in
   * order, when the source fails it; what they send is verified all the same (`--mirror`).
   */
  mirrors?: string[] | undefined;
}

export interface SyncInput extends TransferInput {
  /** The library folder; default: $FERRY_LIBRARY, then the platform's folder for application data. */
  library?: string | undefined;
  /**
   * The stream to sync from. Left out (or only settings given) with `profile`: the saved
   * selection's source is loaded with these settings.
   */
  stream?: StreamRef | StreamSettings | undefined;
  /** Required with a stream; an empty list selects everything. */
  selection?: SelectionGroups | undefined;
  max?: number | undefined;
  keep?: boolean | undefined;
  /** With a stream: the selection is saved under this name. Alone: the saved selection is run. */
  profile?: string | undefined;
}

export interface GcInput {
  library?: string | undefined;
  /** List what would be removed and remove nothing. */
  dryRun?: boolean | undefined;
}

/** The volumes of one bundle, in any order: bundle directories, or folders holding `FERRY/<bundle id>/`. */
export interface BundleInput {
  bundles: string[];
  /** Keyring files to verify the signed metadata with; default: the bundled Ubuntu cloud image keyring (as mirror). */
  keyringFiles?: string[] | undefined;
  /** Also verify with the bundle's own keyrings/: only when the operator says so (a tampered drive can carry its signer's key). */
  trustBundleKeyrings?: boolean | undefined;
  /** Time between progress events, in ms (default 200). */
  progressIntervalMs?: number | undefined;
}

export interface ImportInput extends BundleInput {
  /** The mirror tree to build or update (relative to the engine's cwd); created if missing. */
  target: string;
  /** After a complete import, remove files under target that no published metadata lists. */
  prune?: boolean | undefined;
  /** The URL MAAS will reach the tree at, for the printed commands; default http://<host name>:8080/. */
  serveUrl?: string | undefined;
}

/**
 * `ferry export`: a bundle (or a plain tree) on a drive or in a folder, from the library or from a
 * mirror tree (docs/bundle.md).
 */
export interface ExportInput {
  /** The target folder or a drive's mount point; the bundle goes to `<to>/FERRY/<bundle id>/`. */
  to: string;
  /** From a mirror tree made by `ferry mirror` or sstream-mirror; left out: from the library. */
  tree?: string | undefined;
  /** The library (default as for sync). */
  library?: string | undefined;
  /** From the library: the source the selection reads (a preset, URL or path, as synced); or `profile`. */
  source?: string | undefined;
  /** The entry file relative to the source or tree (sstream's --path). */
  path?: string | undefined;
  /** A saved selection of the library: its source, filters and max. */
  profile?: string | undefined;
  selection?: SelectionGroups | undefined;
  max?: number | undefined;
  /** Keyring files the metadata is verified with and which the bundle carries; default: the bundled one. */
  keyringFiles?: string[] | undefined;
  /** Carry only blobs earlier exports to this site (the library's ledger) did not. */
  site?: string | undefined;
  /** A receipt file (`ferry receipt`): carry only blobs it does not list. */
  since?: string | undefined;
  /** Largest volume in bytes; the bundle is split over as many volumes as it needs. */
  volumeSize?: number | undefined;
  /** Largest part in bytes (default: the target file system's largest file); lowered in tests. */
  partSize?: number | undefined;
  /** `bundle` (default) or `tree`: a plain mirror tree at `to`, where its file system can hold it. */
  layout?: 'bundle' | 'tree' | undefined;
  /** Plan only: the verdict, nothing written. */
  dryRun?: boolean | undefined;
  /** Eject the target's drive once written and verified, when it is a removable drive (default true). */
  eject?: boolean | undefined;
  progressIntervalMs?: number | undefined;
}

/**
 * The kinds of job and the input each takes. Adding a kind (export, verify, import) is one line
 * here, one in JobOutcomes, and its runner in engine.ts.
 */
export interface JobInputs {
  /** Fetch, verify and parse a stream, and keep it for query, plan and later jobs. */
  load: StreamInput;
  mirror: MirrorInput;
  sync: SyncInput;
  gc: GcInput;
  /** Re-hash a bundle against its manifest, after checking its signatures (`ferry verify`). */
  verify: BundleInput;
  /** Build a mirror tree from a bundle (`ferry import`). */
  import: ImportInput;
  export: ExportInput;
}

export type JobKind = keyof JobInputs;

// Outcomes

/**
 * What an operator should know about upstream's signatures and the keyring (trust-warnings.ts):
 * how old the signatures are, and keys of the keyring that have expired or expire soon. Times are
 * ISO 8601; days are whole days.
 */
export type TrustWarning =
  | { kind: 'signature-age'; oldestSignedAt: string; newestSignedAt: string; days: number }
  | { kind: 'key-expired'; fingerprint: string; expiredAt: string }
  | { kind: 'key-expires-soon'; fingerprint: string; expiresAt: string; days: number };

export type StreamTrust =
  /**
   * `expiredKeys`: signers whose key has expired since signing, with the expiry (ISO 8601), to warn
   * about. `warnings`: the signatures' age and the keyring's expired and soon-expiring keys.
   */
  | { kind: 'verified'; signers: string[]; keyringFiles: string[]; expiredKeys: { fingerprint: string; expiredAt: string }[]; warnings: TrustWarning[] }
  | { kind: 'unsigned-source' }
  | { kind: 'skipped' };

export interface LoadOutcome {
  /** Hand this to query, products and jobs (`stream: { streamId }`). */
  streamId: string;
  /** The source as the operator named it (preset name or URL, credentials removed). */
  source: string;
  trust: StreamTrust;
  metadataFiles: number;
  /** Products files, in index order, and the products each lists. */
  productsFiles: Array<{ contentId: string; path: string; products: number }>;
}

export interface PlanSummary {
  /** sstream-mirror's lines: `+ product version item path N Mb`, `- ...`, then `N Mb change`. */
  referenceLines: string[];
  /** The sizes of the `+` lines, summed as sstream-mirror sums them (a shared file once per item). */
  bytesAdded: number;
  versionsAdded: number;
  versionsRemoved: number;
  /** Distinct files the selection wants after the run. */
  filesWanted: number;
  bytesWanted: number;
  /** Of those, files that must be fetched (a dry run counts a file of the right size as present). */
  filesToFetch: number;
  bytesToFetch: number;
  /** Files present that --verify-existing re-hashes; each that proves wrong is fetched again. */
  filesToVerify: number;
  bytesToVerify: number;
  filesToRemove: number;
  bytesToRemove: number;
  /** Items that cannot be mirrored, with the reason. */
  rejected: Array<{ item: string; error: SerializedFerryError }>;
  /** What stands out about the selection (nothing matched, no bootloaders). */
  advice: SelectionAdvice;
}

/** Advice on a selection of a stream, as data for the faces to word (see streams/diagnose.ts). */
export interface SelectionAdvice {
  /** Set when the selection matched no item of the stream: why. */
  noMatch: NoMatchReport | undefined;
  /** MAAS images selected, but none of the stream's bootloaders. */
  lacksBootloaders: boolean;
}

export interface MirrorOutcome {
  jobId: string;
  dryRun: boolean;
  trust: StreamTrust;
  plan: PlanSummary;
  filesFetched: number;
  bytesFetched: number;
  filesPresent: number;
  removedPaths: string[];
  failures: Array<{ path: string; url: string; error: SerializedFerryError }>;
  metadataWritten: string[];
}

export interface SyncOutcome extends MirrorOutcome {
  libraryDir: string;
  /** The saved selection that was run or saved, if any. */
  profile: string | undefined;
  /** The snapshot recorded for this run's metadata; undefined after failures or in a dry run. */
  snapshotId: number | undefined;
}

export interface GcOutcome {
  libraryDir: string;
  dryRun: boolean;
  /** The job recorded in the catalog; undefined for a dry run, which records nothing. */
  jobId: string | undefined;
  removedBlobs: Array<{ sha256: string; size: number }>;
  removedPartials: Array<{ name: string; size: number }>;
  /** Partial downloads kept because the last sync did not finish and a rerun resumes them. */
  partialsKept: number;
  bytesFreed: number;
}

/** One verified signature of a bundle's metadata: which file, by which key, made when (ISO 8601, or null). */
export interface SignatureFact {
  path: string;
  keyFingerprint: string;
  signedAt: string | null;
}

/** A blob of a bundle that is missing or bad, and the tree files it is for. */
export interface BundleBlobProblem {
  sha256: string;
  /** The tree paths that have these bytes. */
  paths: string[];
  /** The stored file (blob or part) relative to its volume's directory, when one is named. */
  storagePath: string | null;
  /** The volume expected to hold it, when known. */
  volume: number | null;
  error: SerializedFerryError;
}

/** What a bundle is and what its signatures say: shared by verify and import. */
export interface BundleSummary {
  bundleId: string;
  created: string;
  /** Volume indexes given and still missing, of `count`. */
  volumes: { given: number[]; missing: number[]; count: number };
  /** The incremental bundle's base, or null for a full bundle. */
  base: { kind: 'site' | 'receipt'; id: string } | null;
  trust: StreamTrust;
  signatures: SignatureFact[];
}

export interface VerifyOutcome extends BundleSummary {
  /** Every blob of every file is on a volume given (an incremental bundle's blobs expected at the site excepted). */
  complete: boolean;
  /** Every blob and part present has the size and sha256 bundle.json lists. */
  valid: boolean;
  missing: BundleBlobProblem[];
  bad: BundleBlobProblem[];
  /** Blobs an incremental bundle does not carry because the site holds them. */
  atSite: Array<{ sha256: string; paths: string[] }>;
  blobsChecked: number;
  bytesChecked: number;
}

/** `maas` commands that make MAAS import the tree: plain data, for the CLI and the app alike. */
export interface MaasCommands {
  /** The boot-source URL used, and whether it is a guess the operator should adjust. */
  url: string;
  urlIsGuess: boolean;
  keyringFilename: string;
  /** Why that keyring: the Ubuntu cloud image keyring MAAS ships, or the bundle's, to copy to the region controller. */
  keyringNote: string;
  selections: Array<{ os: string; release: string; arches: string[]; subarches: string[]; labels: string[] }>;
  /** The command lines, in order: the boot source first, then one selection per os and release. */
  lines: string[];
}

export interface ImportOutcome extends BundleSummary {
  target: string;
  /** Every file of the bundle is at its final path and verified, and the metadata is published. */
  complete: boolean;
  filesWritten: string[];
  filesKept: number;
  bytesWritten: number;
  /** Files no volume given and no file in the target could supply. */
  missing: BundleBlobProblem[];
  metadataWritten: string[];
  pruned: string[];
  /** Null until the import is complete. */
  maas: MaasCommands | null;
}

/** The export verdict, given before anything is written. */
export interface ExportPlanSummary {
  layout: 'bundle' | 'tree';
  /** Files of the tree the bundle describes (metadata and items). */
  files: number;
  /** Distinct blobs of those files, and how many (and bytes) this bundle carries. */
  blobs: number;
  blobsCarried: number;
  bytesCarried: number;
  bytesNeeded: number;
  marginBytes: number;
  /** null where the file system does not report it (fusefat). */
  freeBytes: number | null;
  /** The target's file system as detected (`vfat`, `ext4`, ...) and the rules it is judged by. */
  fsType: string;
  filesystem: 'fat32' | 'exfat' | 'ntfs' | 'ext4' | null;
  volumes: number;
  /** Blobs split into parts. */
  splitBlobs: number;
  /** The base of an incremental bundle: the ledger's latest export to the site, or the receipt. */
  base: { kind: 'site' | 'receipt'; id: string } | null;
  /** Names only Windows refuses on this file system, recorded. */
  warnings: string[];
}

export interface ExportOutcome {
  jobId: string;
  dryRun: boolean;
  bundleId: string;
  /** Each volume's directory (the tree's root for the tree layout), volume 1 first. */
  directories: string[];
  plan: ExportPlanSummary;
  /** Every file reached its final path: how many were written and how many an earlier run had; null in a dry run. */
  written: { blobsWritten: number; blobsKept: number; bytesWritten: number } | null;
  /**
   * Every blob or part read back and re-hashed: `direct` around the page cache (O_DIRECT), `cached`
   * where the file system refused that, `mixed` when both happened. `bad` names each that differs.
   * null in a dry run.
   */
  verified: { files: number; bytes: number; method: 'direct' | 'cached' | 'mixed'; bad: Array<{ path: string; expected: string; actual: string }> } | null;
  /**
   * After written and verified: the drive's eject (media/eject.ts: ejected, busy, failed, or
   * not-a-drive for a plain folder); `not-requested` with `eject: false`; null in a dry run or when
   * a blob read back wrong (the drive stays mounted to be looked at).
   */
  ejected: EjectOutcome | { kind: 'not-requested' } | null;
  /** Upstream's signatures as verified at export (the metadata files, their signers and dates). */
  signatures: Array<{ path: string; keyFingerprint: string; signedAt: string }>;
  /** How old those signatures are, and the keyring's expired or soon-expiring keys (as a stream's trust.warnings). */
  trustWarnings: TrustWarning[];
  /** The export was recorded in the library's ledger for this site. */
  ledgerSite: string | null;
}

export interface JobOutcomes {
  load: LoadOutcome;
  mirror: MirrorOutcome;
  sync: SyncOutcome;
  gc: GcOutcome;
  verify: VerifyOutcome;
  import: ImportOutcome;
  export: ExportOutcome;
}

// Events

/** A request is tried again after `delayMs`: what failed, and whether the server set the wait. */
export interface RetryEvent {
  type: 'retry';
  jobId: string;
  url: string;
  /** The attempt that failed (1-based) and the most that will be made. */
  attempt: number;
  maxAttempts: number;
  delayMs: number;
  /** true: the server asked for this wait with Retry-After (capped at 120 s). */
  retryAfter: boolean;
  cause: SerializedFerryError;
}

/** A failure that is not a FerryError (a bug), as plain data. */
export interface InternalErrorData {
  name: 'InternalError';
  message: string;
}

/**
 * Everything a job tells its subscribers, each stamped with the job's id. The last event of a job
 * is its outcome: `result`, `failed`, `cancelled` or `paused`; nothing follows it.
 */
export type JobEvent =
  | { type: 'loaded'; jobId: string; source: string; trust: StreamTrust; metadataFiles: number }
  | { type: 'repaired'; jobId: string; report: TreeRepairReport | LibraryRepairReport }
  | { type: 'plan'; jobId: string; plan: PlanSummary }
  | { type: 'progress'; jobId: string; progress: Progress }
  | { type: 'file-done'; jobId: string; path: string; outcome: 'fetched' | 'present' }
  | { type: 'file-failed'; jobId: string; path: string; url: string; error: SerializedFerryError }
  | { type: 'removed'; jobId: string; path: string }
  | { type: 'metadata-written'; jobId: string; paths: string[] }
  | RetryEvent
  | { type: 'result'; jobId: string; kind: JobKind; outcome: JobOutcomes[JobKind] }
  | { type: 'failed'; jobId: string; kind: JobKind; error: SerializedFerryError | InternalErrorData }
  /** Stopped by cancel(): the partial downloads it started are deleted. */
  | { type: 'cancelled'; jobId: string; kind: JobKind; reason: SerializedFerryError; partialsDiscarded: number }
  /** Stopped by pause(): partial downloads are kept, and starting the job again continues them. */
  | { type: 'paused'; jobId: string; kind: JobKind; reason: SerializedFerryError };

export type JobEventType = JobEvent['type'];

/** An event as job code emits it; the registry stamps the job id. */
export type JobEventBody = WithoutJobId<JobEvent>;
type WithoutJobId<Event> = Event extends unknown ? Omit<Event, 'jobId'> : never;

/**
 * Which events end a job. A Record over the whole union, so the compiler refuses a new event type
 * until someone decides here whether it is an outcome (and the plain-data test enumerates these).
 */
const ENDS_JOB: Record<JobEventType, boolean> = {
  loaded: false,
  repaired: false,
  plan: false,
  progress: false,
  'file-done': false,
  'file-failed': false,
  removed: false,
  'metadata-written': false,
  retry: false,
  result: true,
  failed: true,
  cancelled: true,
  paused: true,
};

export const JOB_EVENT_TYPES = Object.keys(ENDS_JOB) as JobEventType[];

export function isOutcomeEvent(event: JobEvent): event is Extract<JobEvent, { type: 'result' | 'failed' | 'cancelled' | 'paused' }> {
  return ENDS_JOB[event.type];
}

export type JobState = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'paused';

/** What a subscriber that attaches late needs to draw a job: its latest state, not its history. */
export interface JobStatus {
  id: string;
  kind: JobKind;
  input: JobInputs[JobKind];
  state: JobState;
  /** ISO 8601. */
  startedAt: string;
  /** The paused job this one resumes. */
  resumes: string | undefined;
  loaded: Extract<JobEvent, { type: 'loaded' }> | undefined;
  plan: PlanSummary | undefined;
  progress: Progress | undefined;
  /** The last event, once the job has ended. */
  outcome: Extract<JobEvent, { type: 'result' | 'failed' | 'cancelled' | 'paused' }> | undefined;
}
