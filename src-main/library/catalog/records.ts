// The catalog's records: the shapes its callers write and read back. The row shapes SQLite hands
// back (snake_case columns) stay beside the SQL that selects them.
import type { StoredBlob } from '../blobs.js';

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export interface SourceRecord {
  readonly id: number;
  readonly url: string;
  readonly entryPath: string;
  readonly createdAt: string;
}

/** One raw, verified metadata file (index or products) of a snapshot; its bytes are a blob. */
export interface SnapshotFile {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

export interface SnapshotRecord {
  readonly id: number;
  readonly sourceId: number;
  readonly fetchedAt: string;
  readonly signed: boolean;
  readonly keyringFingerprints: readonly string[];
  readonly files: readonly SnapshotFile[];
  /** The selection whose run recorded it; undefined for snapshots recorded before catalog schema 3. */
  readonly selection: SnapshotSelection | undefined;
}

export interface HeldItemKey {
  readonly sourceId: number;
  readonly contentId: string;
  readonly product: string;
  readonly version: string;
  readonly item: string;
}

export interface NewHeldItem extends HeldItemKey {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

/** The bytes behind a held path. */
export interface HeldFile {
  readonly sha256: string;
  readonly size: number;
}

export interface HeldItem extends NewHeldItem {
  readonly addedAt: string;
}

export interface BlobRecord extends StoredBlob {
  readonly verifiedAt: string;
}

/** A file at its final path in a mirror tree (relative to the tree), as it was when last verified. */
export interface TreeFile {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  readonly mtimeMs: number;
}

export interface TreeFileRecord extends TreeFile {
  readonly verifiedAt: string;
}

export interface RemovalResult {
  readonly removed: boolean;
  /** Held items that pointed at the removed file and so are no longer held. */
  readonly heldItemsDropped: number;
}

/** What the catalog holds of one product (the engine's ProductSummary is what a stream offers). */
export interface HeldProductSummary {
  readonly sourceId: number;
  readonly sourceUrl: string;
  readonly contentId: string;
  readonly product: string;
  /** In no promised order: the engine sorts them (streams' compareVersionNames). */
  readonly versions: readonly string[];
  readonly itemCount: number;
  /** The sizes of the product's items added up; a file shared with another product counts in both. */
  readonly bytes: number;
}

export interface SelectionProfile {
  readonly name: string;
  readonly source: string;
  /** The entry file relative to the source (sstream's --path); null when the source names it. */
  readonly path: string | null;
  /** Groups are ORed; the filters of one group are ANDed (sstream filter syntax). */
  readonly filterGroups: readonly (readonly string[])[];
  readonly maxVersions: number | null;
  readonly keep: boolean;
  /** Keyring files (absolute paths) to verify with; undefined: the bundled keyring. */
  readonly keyringFiles?: readonly string[] | undefined;
  /** false: signatures are not checked (--no-verify); undefined: they are. */
  readonly verify?: boolean | undefined;
}

/** What a run selected from a stream, as a saved selection stores it; a snapshot records its run's. */
export type SnapshotSelection = Pick<SelectionProfile, 'filterGroups' | 'maxVersions' | 'keep'>;

export interface SavedSelection extends SelectionProfile {
  readonly updatedAt: string;
}

export type RecordedJobStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface JobRecord {
  readonly id: string;
  readonly kind: string;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly status: RecordedJobStatus;
  readonly summary: JsonValue;
}

/** An event as a job's log in the catalog keeps it (the engine's JobEvent is what a job emits). */
export interface RecordedJobEvent {
  readonly jobId: string;
  readonly seq: number;
  readonly at: string;
  readonly type: string;
  readonly data: JsonValue;
}

/** A bundle exported from the library (the ledger of `ferry export --site`). */
export interface ExportRecord {
  readonly bundleId: string;
  /** The site it was exported to; null for an export without --site. */
  readonly site: string | null;
  /** ISO 8601, the bundle's creation time. */
  readonly createdAt: string;
}

/** An export of the ledger with what it carried: its blobs, and their bytes as the library records them. */
export interface ExportSummary extends ExportRecord {
  readonly blobs: number;
  readonly bytes: number;
}
