// Every call of the API with the schema of what it takes and what it answers: the one contract the
// WebSocket (browser mode) and the MessagePort (the Electron shell) both carry. The engine's
// service (engine/service.ts) checks each input against `input` before it acts; a client types its
// calls from this table. Adding a call is one entry here and one handler in engine/service.ts (the
// compiler refuses the service until the handler exists).

import { z } from 'zod';
import { JOB_KINDS, jobInputSchemas, selectionGroupsSchema, selectionRequestSchema, streamInputSchema, whole } from './inputs.js';
import { historyCalls } from './history-calls.js';
import { receiptSchema } from './records.js';
import { jobEventSchema, jobStatusSchema, planSummarySchema, selectionAdviceSchema, streamTrustSchema } from './outputs.js';

const nonEmpty = z.string({ error: 'a non-empty string' }).min(1, { error: 'a non-empty string' });
const jobIdInput = z.object({ jobId: nonEmpty });
const libraryInput = z.object({ library: z.string({ error: 'a string' }).optional() });
const nothing = z.object({});

/** `{kind, input}` for each kind of job, the input checked by its kind's schema; a new kind is one line here. */
const startJobInput = z.discriminatedUnion(
  'kind',
  [
    z.object({ kind: z.literal('load'), input: jobInputSchemas.load }),
    z.object({ kind: z.literal('mirror'), input: jobInputSchemas.mirror }),
    z.object({ kind: z.literal('sync'), input: jobInputSchemas.sync }),
    z.object({ kind: z.literal('gc'), input: jobInputSchemas.gc }),
    z.object({ kind: z.literal('verify'), input: jobInputSchemas.verify }),
    z.object({ kind: z.literal('import'), input: jobInputSchemas.import }),
    z.object({ kind: z.literal('export'), input: jobInputSchemas.export }),
  ],
  { error: `one of ${JOB_KINDS.join(', ')}` },
);

/** A loaded stream and how far it is trusted: what the source screen shows. */
export const loadedSourceSchema = z.object({
  streamId: z.string(),
  source: z.string(),
  trust: streamTrustSchema,
  metadataFiles: z.number(),
  /** ISO 8601: when the engine loaded and verified it. */
  loadedAt: z.string(),
});

export const productSummarySchema = z.object({
  contentId: z.string(),
  productName: z.string(),
  os: z.string(),
  release: z.string(),
  arch: z.string(),
  /** subarch and kernel flavour for images, the firmware type for bootloaders. */
  kernel: z.string(),
  /** Oldest first, in the reference's plain string order. */
  versions: z.array(z.string()),
  latestVersion: z.string(),
  /** Bytes of the distinct files of the latest version. */
  latestVersionBytes: z.number(),
});

export const libraryProfileSchema = z.object({
  name: z.string(),
  source: z.string(),
  /** The entry file relative to the source (--path), when the source does not name it. */
  path: z.string().optional(),
  /** The filters as `ferry sync` takes them, groups joined by `--or`. */
  filters: z.array(z.string()),
  max: z.number().optional(),
  keep: z.boolean(),
  /** Keyring files the selection verifies with (absolute); empty: the bundled keyring. */
  keyringFiles: z.array(z.string()),
  /** false when it was saved with --no-verify. */
  verify: z.boolean(),
  updatedAt: z.string(),
});

export const librarySummarySchema = z.object({
  libraryDir: z.string(),
  /** false when there is no library at libraryDir yet (everything else is then empty). */
  exists: z.boolean(),
  products: z.array(
    z.object({ sourceUrl: z.string(), contentId: z.string(), product: z.string(), versions: z.array(z.string()), itemCount: z.number(), bytes: z.number() }),
  ),
  totals: z.object({
    products: z.number(),
    versions: z.number(),
    items: z.number(),
    itemBytes: z.number(),
    blobs: z.number(),
    blobBytes: z.number(),
    blobsMissing: z.number(),
  }),
  profiles: z.array(libraryProfileSchema),
  sources: z.array(
    z.object({
      url: z.string(),
      entryPath: z.string(),
      latestSnapshot: z
        .object({
          id: z.number(),
          fetchedAt: z.string(),
          signed: z.boolean(),
          keyringFingerprints: z.array(z.string()),
          files: z.array(z.object({ path: z.string(), sha256: z.string(), size: z.number() })),
        })
        .optional(),
    }),
  ),
});

const volumeSchema = z.object({
  device: z.string(),
  kind: z.enum(['partition', 'whole-device', 'crypt', 'lvm', 'apfs-volume', 'volume']),
  sizeBytes: z.number().nullable(),
  fsType: z.string().nullable(),
  label: z.string().nullable(),
  mountPoints: z.array(z.string()),
  freeBytes: z.number().nullable(),
});

export const driveListingSchema = z.object({
  drives: z.array(
    z.object({
      device: z.string(),
      model: z.string().nullable(),
      sizeBytes: z.number(),
      hasMedia: z.boolean(),
      bus: z.string().nullable(),
      removable: z.boolean(),
      usb: z.boolean(),
      readOnly: z.boolean(),
      virtual: z.boolean(),
      systemReasons: z.array(z.string()),
      volumes: z.array(volumeSchema),
    }),
  ),
  hidden: z.array(z.object({ device: z.string(), reasons: z.array(z.string()) })),
});

/**
 * The operator's settings, kept by the engine in settings.json in its data folder (the default
 * library folder), so the browser and the desktop app share them. Every field is optional: absent
 * means the engine's default.
 */
export const settingsSchema = z.object({
  /** The library folder new syncs use. */
  library: z.string({ error: 'a string' }).optional(),
  proxy: z.string({ error: 'a string' }).optional(),
  keyringFiles: z.array(z.string({ error: 'a list of strings' }), { error: 'a list of strings' }).optional(),
  concurrency: whole(1, 64).optional(),
  theme: z.enum(['system', 'light', 'dark'], { error: 'system, light or dark' }).optional(),
});

/** One event of a job with its sequence number (1, 2, ... per job), for reattaching after a reconnect. */
export const sequencedEventSchema = z.object({ seq: z.number(), event: jobEventSchema });

function call<Input extends z.ZodType, Output extends z.ZodType>(input: Input, output: Output, summary: string): { input: Input; output: Output; summary: string } {
  return { input, output, summary };
}

/** Every call: name → { input schema, output schema, what it does }. */
export const calls = {
  'engine.info': call(nothing, z.object({ version: z.string(), dataDir: z.string(), libraryDir: z.string() }), 'The engine version and its folders.'),
  'sources.load': call(streamInputSchema, z.object({ jobId: z.string() }), 'Starts a load job (fetch and verify a stream); its result names the streamId.'),
  'sources.list': call(nothing, z.array(loadedSourceSchema), 'The streams this engine has loaded, with their verification state.'),
  'sources.release': call(z.object({ streamId: nonEmpty }), z.object({ released: z.boolean() }), 'Forgets a loaded stream.'),
  'catalog.query': call(selectionRequestSchema.extend({ streamId: nonEmpty }), z.array(z.record(z.string(), z.string())), "sstream-query's flattened items of a loaded stream."),
  'catalog.products': call(selectionRequestSchema.extend({ streamId: nonEmpty }), z.array(productSummarySchema), 'One row per product with a selected item.'),
  'catalog.advise': call(selectionRequestSchema.extend({ streamId: nonEmpty }), selectionAdviceSchema, 'Why a selection matched nothing, and whether MAAS images lack their bootloaders.'),
  'selection.parse': call(z.object({ filters: z.array(z.string({ error: 'a list of strings' }), { error: 'a list of strings' }) }), z.object({ groups: selectionGroupsSchema }), 'sstream filter text (groups split by --or) as checked filter groups.'),
  'selection.format': call(z.object({ groups: selectionGroupsSchema }), z.object({ filters: z.array(z.string()) }), 'Filter groups as sstream filter text, groups joined by --or.'),
  plan: call(
    z.discriminatedUnion('kind', [z.object({ kind: z.literal('mirror'), input: jobInputSchemas.mirror }), z.object({ kind: z.literal('sync'), input: jobInputSchemas.sync })], {
      error: 'mirror or sync (the jobs plan() dry-runs)',
    }),
    planSummarySchema,
    'What a mirror or sync would do, changing nothing.',
  ),
  'jobs.start': call(startJobInput, z.object({ jobId: z.string() }), 'Starts a job; follow it with jobs.subscribe.'),
  'jobs.list': call(nothing, z.array(jobStatusSchema), 'Running jobs, and ended, paused and interrupted ones from the history.'),
  'jobs.get': call(jobIdInput, jobStatusSchema, 'One job by id.'),
  'jobs.subscribe': call(
    jobIdInput.extend({ since: whole(0).optional() }),
    z.object({ status: jobStatusSchema, events: z.array(sequencedEventSchema), complete: z.boolean() }),
    'The events after `since` (0: all kept) and every later one as `event` messages. complete: false when older events were dropped.',
  ),
  'jobs.unsubscribe': call(jobIdInput, z.object({}), 'Stops the event messages of one job on this connection.'),
  'jobs.pause': call(jobIdInput, z.object({}), 'Pauses a job, keeping its partial downloads.'),
  'jobs.resume': call(jobIdInput, z.object({ jobId: z.string() }), 'Runs a paused or interrupted job again as a new job.'),
  'jobs.cancel': call(jobIdInput, z.object({}), 'Cancels a job; its partial downloads are deleted.'),
  'jobs.provideTarget': call(
    jobIdInput.extend({ path: nonEmpty }),
    z.object({}),
    "Answers an export's target-needed event with the folder the next drive is mounted at (a refused folder is asked for again, with the reason).",
  ),
  'library.summary': call(libraryInput, librarySummarySchema, 'What the library holds.'),
  'profiles.list': call(libraryInput, z.array(libraryProfileSchema), 'Saved selections (profiles) of the library.'),
  'receipts.write': call(
    z.object({ dir: nonEmpty, out: nonEmpty, site: z.string({ error: 'a string' }).optional() }),
    receiptSchema,
    "Hashes what a site's mirror tree holds and writes its receipt to `out` (ferry receipt).",
  ),
  'drives.list': call(z.object({ showSystem: z.boolean({ error: 'true or false' }).optional() }), driveListingSchema, 'Drives to export to; system drives hidden unless showSystem.'),
  'settings.get': call(nothing, settingsSchema, 'The saved settings.'),
  'settings.set': call(settingsSchema, settingsSchema, 'Replaces the saved settings; answers them as saved.'),
  ...historyCalls,
} as const;

export type CallName = keyof typeof calls;
export const CALL_NAMES = Object.keys(calls) as CallName[];
/** What a call takes, as the caller writes it (optional fields may be left out). */
export type CallInput<Name extends CallName> = z.input<(typeof calls)[Name]['input']>;
/** What a call answers. */
export type CallOutput<Name extends CallName> = z.infer<(typeof calls)[Name]['output']>;
export type Settings = z.infer<typeof settingsSchema>;
export type LoadedSource = z.infer<typeof loadedSourceSchema>;
export type ProductSummary = z.infer<typeof productSummarySchema>;
export type LibrarySummaryData = z.infer<typeof librarySummarySchema>;
export type DriveListingData = z.infer<typeof driveListingSchema>;
export type SequencedEvent = z.infer<typeof sequencedEventSchema>;
