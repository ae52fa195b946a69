// The calls of the History screen (issue 10 §3: jobs, exports, receipts and the audit log) and the
// Plan screen's free space, in a table of their own that calls.ts spreads into the one call table.
// Their handlers are engine/history.ts's.
import { z } from 'zod';
import { receiptSchema } from './records.js';

const libraryInput = z.object({ library: z.string({ error: 'a string' }).optional() });

/** The file system the library is (or will be) on, measured with statfs as the sync's own space check measures it. */
export const librarySpaceSchema = z.object({
  libraryDir: z.string(),
  /** The folder measured: the library, or its nearest parent that exists before the first sync. */
  measured: z.string(),
  mountPoint: z.string(),
  /** Bytes an unprivileged writer may still use; null where the file system reports no size. */
  freeBytes: z.number().nullable(),
});

/** One bundle of the library's exports ledger (migration 004). */
export const exportRecordSchema = z.object({
  bundleId: z.string(),
  /** The site it was exported to (`site`), or null. */
  site: z.string().nullable(),
  /** ISO 8601: the bundle's creation time. */
  createdAt: z.string(),
  blobs: z.number(),
  /** The carried blobs' bytes as the library records them (a blob gc removed since counts 0). */
  bytes: z.number(),
});

/** A receipt file the app met: one receipts.write wrote, or one an export read as its base (`since`). */
export const receiptRecordSchema = z.object({
  path: z.string(),
  use: z.enum(['written', 'read']),
  /** ISO 8601: when it was written, or when the export that read it started. */
  at: z.string(),
  /** The export job that read it (`read` only). */
  jobId: z.string().nullable(),
  /** The file as it reads now; null when it is gone or not a receipt (`problem` says which). */
  receipt: receiptSchema.nullable(),
  problem: z.string().nullable(),
});

/** The audit log of one export: the lines of its bundle's audit.jsonl (docs/bundle.md), as written. */
export const auditRecordSchema = z.object({
  bundleId: z.string(),
  jobId: z.string(),
  /** The bundle's first volume's directory, where audit.jsonl was written. */
  directory: z.string(),
  entries: z.array(z.record(z.string(), z.unknown())),
  /** Why the entries could not be read (the drive was ejected, the folder moved); null when they were. */
  problem: z.string().nullable(),
});

/** The History and Plan screens' calls: name → { input, output, what it does } (see calls.ts). */
export const historyCalls = {
  'library.space': { input: libraryInput, output: librarySpaceSchema, summary: "The free space of the library's file system (statfs), for the plan." },
  'history.exports': { input: libraryInput, output: z.array(exportRecordSchema), summary: "The library's exports ledger, newest first." },
  'history.receipts': { input: z.object({}), output: z.array(receiptRecordSchema), summary: 'Receipt files written with receipts.write or read by an export (since), newest first, each read again.' },
  'history.audit': { input: z.object({}), output: z.array(auditRecordSchema), summary: "The audit.jsonl of each export this engine ran, newest first, read from the bundle's directory." },
} as const;

export type LibrarySpace = z.infer<typeof librarySpaceSchema>;
export type ExportRecordData = z.infer<typeof exportRecordSchema>;
export type ReceiptRecord = z.infer<typeof receiptRecordSchema>;
export type AuditRecord = z.infer<typeof auditRecordSchema>;
