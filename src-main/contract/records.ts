// The site receipt (docs/bundle.md, "Receipts"), and the field shapes it shares with the bundle's
// manifest: the one definition of each. media/bundle/manifest.ts parses receipts and manifests with
// these, and the contract answers receipts.write with the same schema, so the file on disk and
// the API's answer cannot drift apart. Pure (zod only): the renderer bundles it too.
import { z } from 'zod';

export const RECEIPT_FORMAT = 'stream-ferry-receipt';
/** The manifest and receipt format this build writes and the newest it reads. */
export const BUNDLE_FORMAT_VERSION = 1;

export const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 digest: 64 lower-case hex characters');
export const byteCountSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
export const isoTimeSchema = z.iso.datetime();
/** A bundle's or receipt's id: its UTC creation time and 8 random hex digits. */
export const recordIdSchema = z.string().regex(/^\d{8}T\d{6}Z-[0-9a-f]{8}$/, 'an id of the form YYYYMMDDTHHMMSSZ-xxxxxxxx');
/** The program that wrote a record. */
export const toolSchema = z.object({ name: z.string().min(1), version: z.string().min(1) });

/** A site's receipt (`ferry receipt`): what its mirror tree holds, for an incremental export's `since`. */
export const receiptSchema = z
  .object({
    format: z.literal(RECEIPT_FORMAT),
    formatVersion: z.literal(BUNDLE_FORMAT_VERSION),
    id: recordIdSchema,
    /** ISO 8601. */
    created: isoTimeSchema,
    tool: toolSchema,
    site: z.string().min(1).nullable(),
    metadata: z.array(z.object({ path: z.string().min(1), sha256: sha256Schema, size: byteCountSchema })),
    blobs: z.array(z.object({ sha256: sha256Schema, size: byteCountSchema })),
  })
  .strict();

export type Receipt = z.infer<typeof receiptSchema>;
