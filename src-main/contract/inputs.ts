// What every job and call takes, as zod schemas: the one definition of the inputs. The engine checks
// each incoming value against these (engine/job-input.ts) and the types in engine/api.ts are derived
// from them with z.infer, so a field cannot be described twice. Each schema's error text is the
// `expected` part of the FERRY_INPUT_INVALID refusal (`<field> must be <expected>, not <actual>.`).

import { z } from 'zod';
import { LONGEST_TIMER_MS } from '../base/cancel.js';

/** A whole number from min to max (default: the largest safe integer); the refusal says which range. */
export function whole(min: number, max = Number.MAX_SAFE_INTEGER): z.ZodNumber {
  const expected = max === Number.MAX_SAFE_INTEGER ? `a whole number, ${min} or more` : `a whole number from ${min} to ${max}`;
  return z.number({ error: expected }).int({ error: expected }).min(min, { error: expected }).max(max, { error: expected });
}

const text = z.string({ error: 'a string' });
const nonEmptyText = z.string({ error: 'a non-empty string' }).min(1, { error: 'a non-empty string' });
const flag = z.boolean({ error: 'true or false' });
const LIST_OF_STRINGS = 'a list of strings';
const strings = z.array(z.string({ error: LIST_OF_STRINGS }), { error: LIST_OF_STRINGS });

/** How a stream's metadata and files are reached and trusted; kept with a loaded stream for its jobs. */
export const streamSettingsSchema = z.object({
  /** Keyring files; empty or absent means the bundled Ubuntu cloud image keyring. */
  keyringFiles: strings.optional(),
  /** false skips signature checks (the PGP framing of .sjson files is still required). Default true. */
  verify: flag.optional(),
  /** http(s) proxy URL; default: HTTPS_PROXY / HTTP_PROXY of the engine's environment, honouring NO_PROXY. */
  proxy: text.optional(),
  /** PEM files of extra certificate authorities to trust for https (a private CA), relative to the engine's cwd. */
  caCertFiles: strings.optional(),
  /** Retries of one failed request, metadata or file (0 or more; default JOB_DEFAULTS.retries). */
  retries: whole(0).optional(),
  /** Longest wait of one request for the answer or for more data, in ms (1000 to 2^31 - 1, Node's longest timer). */
  stallTimeoutMs: whole(1000, LONGEST_TIMER_MS).optional(),
});

/** A stream to load: a preset (`stable`, `candidate`), an http(s) or file URL, or a local path. */
export const streamInputSchema = streamSettingsSchema.extend({
  source: nonEmptyText,
  /** Entry file relative to the mirror base: an index or a products file (sstream's --path). */
  path: text.optional(),
});

const streamIdSchema = z.object({ streamId: nonEmptyText });

/** A stream a job works on: one loaded before (by a `load` job), or one the job loads itself. */
// The fullest form first: a refusal of a value that fits neither names its fields (see engine/job-input.ts).
export const streamRefSchema = z.union([streamInputSchema, streamIdSchema], { error: 'an object' });

export const SELECTION_EXPECTED = 'a list of filter groups, each a list of filter strings';
/** Filter groups as text: each group's filters are ANDed, groups are ORed (sstream filter syntax). */
export const selectionGroupsSchema = z.array(z.array(z.string({ error: SELECTION_EXPECTED }), { error: SELECTION_EXPECTED }), { error: SELECTION_EXPECTED });

export const transferInputSchema = z.object({
  /** Files downloading at once (default JOB_DEFAULTS.concurrency). */
  concurrency: whole(1).optional(),
  /** Connections kept per origin (default JOB_DEFAULTS.connectionsPerHost). */
  connectionsPerHost: whole(1).optional(),
  /** Time between progress events, in ms (1 to 2^31 - 1, Node's longest timer; default 200). */
  progressIntervalMs: whole(1, LONGEST_TIMER_MS).optional(),
  /** Write downloads around the page cache where the file system allows it (default true). */
  directIo: flag.optional(),
  /** Plan only: load, plan, emit the plan and change nothing. */
  dryRun: flag.optional(),
  /** Re-hash every file already present and fetch again what proves wrong. */
  verifyExisting: flag.optional(),
});

const versionsFields = {
  /** Keep the N newest versions of each product. */
  max: whole(0).optional(),
  /** With max: keep up to N versions even after they leave the source. */
  keep: flag.optional(),
};

/** keep without max would keep nothing it was asked to: refused, as sstream-mirror's --keep needs --max. */
function keepNeedsMax(value: { max?: number | undefined; keep?: boolean | undefined }, context: z.RefinementCtx): void {
  if (value.keep === true && value.max === undefined) context.addIssue({ code: 'custom', path: ['keep'], message: 'false unless max is given (it keeps up to max versions)', input: true });
}

export const mirrorInputSchema = transferInputSchema
  .extend({
    stream: streamRefSchema,
    /** The mirror tree's directory (relative to the engine's cwd); created if missing. */
    target: nonEmptyText,
    selection: selectionGroupsSchema,
    ...versionsFields,
    /** false records the metadata without fetching items (`--no-item-download`). Default true. */
    fetchItems: flag.optional(),
    /**
     * Other mirror bases (URLs or local paths, as a source is given) to fetch an item file from, in
     * order, when the source fails it; what they send is verified all the same (`--mirror`).
     */
    mirrors: strings.optional(),
  })
  .superRefine(keepNeedsMax);

export const syncInputSchema = transferInputSchema.extend({
  /** The library folder; default: $FERRY_LIBRARY, then the platform's folder for application data. */
  library: text.optional(),
  /**
   * The stream to sync from. Left out (or only settings given) with `profile`: the saved
   * selection's source is loaded with these settings.
   */
  // Settings alone are strict, so a malformed source or streamId is refused, not dropped.
  stream: z.union([streamInputSchema, streamIdSchema, z.strictObject(streamSettingsSchema.shape)], { error: 'an object' }).optional(),
  /** Required with a stream; an empty list selects everything. */
  selection: selectionGroupsSchema.optional(),
  ...versionsFields,
  /** With a stream: the selection is saved under this name. Alone: the saved selection is run. */
  profile: text.optional(),
}).superRefine((value, context) => {
  if (value.stream !== undefined && ('streamId' in value.stream || 'source' in value.stream)) {
    keepNeedsMax(value, context);
    return;
  }
  if (value.profile === undefined) {
    context.addIssue({ code: 'custom', path: ['stream'], message: 'a stream to sync from, unless profile names a saved selection', input: value.stream });
    return;
  }
  // A saved selection runs as it was saved; only max may be given for one run.
  for (const name of ['selection', 'keep'] as const) {
    if (value[name] !== undefined && value[name] !== false) context.addIssue({ code: 'custom', path: [name], message: 'left out when a saved selection runs without a stream', input: value[name] });
  }
});

export const gcInputSchema = z.object({
  library: text.optional(),
  /** List what would be removed and remove nothing. */
  dryRun: flag.optional(),
});

const progressIntervalMs = whole(1, LONGEST_TIMER_MS).optional();
const BUNDLE_PATHS = 'a list of one or more bundle paths';

/** The volumes of one bundle, in any order: bundle directories, or folders holding `FERRY/<bundle id>/`. */
export const bundleInputSchema = z.object({
  bundles: z.array(z.string({ error: BUNDLE_PATHS }).min(1, { error: BUNDLE_PATHS }), { error: BUNDLE_PATHS }).min(1, { error: BUNDLE_PATHS }),
  /** Keyring files to verify the signed metadata with; default: the bundled Ubuntu cloud image keyring (as mirror). */
  keyringFiles: strings.optional(),
  /** Also verify with the bundle's own keyrings/: only when the operator says so (a tampered drive can carry its signer's key). */
  trustBundleKeyrings: flag.optional(),
  /** Time between progress events, in ms (default 200). */
  progressIntervalMs,
});

export const importInputSchema = bundleInputSchema.extend({
  /** The mirror tree to build or update (relative to the engine's cwd); created if missing. */
  target: nonEmptyText,
  /** After a complete import, remove files under target that no published metadata lists. */
  prune: flag.optional(),
  /** Import even when the target's published metadata is newer than the bundle's (a deliberate rollback). */
  allowOlder: flag.optional(),
  /** The URL MAAS will reach the tree at, for the printed commands; default http://<host name>:8080/. */
  serveUrl: text.optional(),
});

/**
 * `ferry export`: a bundle (or a plain tree) on a drive or in a folder, from the library or from a
 * mirror tree (docs/bundle.md). The fields are in the order they are checked, so a value with
 * several faults is refused for the same one each time.
 */
export const exportInputSchema = z
  .object({
    /** The target folder or a drive's mount point; the bundle goes to `<to>/FERRY/<bundle id>/`. */
    to: nonEmptyText,
    /**
     * Folders (drives' mount points) for volumes 2, 3, ... when the export does not fit `to`: one
     * volume per drive, each at `<folder>/FERRY/<bundle id>/` (docs/bundle.md, "One drive after another").
     */
    nextTargets: strings.optional(),
    /** When more volumes remain than targets: ask for each next one (event `target-needed`) instead of refusing. */
    askForTargets: flag.optional(),
    /** From a mirror tree made by `ferry mirror` or sstream-mirror; left out: from the library. */
    tree: text.optional(),
    /** The library (default as for sync). */
    library: text.optional(),
    /** From the library: the source the selection reads (a preset, URL or path, as synced); or `profile`. */
    source: text.optional(),
    /** The entry file relative to the source or tree (sstream's --path). */
    path: text.optional(),
    /** A saved selection of the library: its source, filters and max. */
    profile: text.optional(),
    /** Carry only blobs earlier exports to this site (the library's ledger) did not. */
    site: text.optional(),
    /** A receipt file (`ferry receipt`): carry only blobs it does not list. */
    since: text.optional(),
    /** Keyring files the metadata is verified with and which the bundle carries; default: the bundled one. */
    keyringFiles: strings.optional(),
    selection: selectionGroupsSchema.optional(),
    max: whole(1).optional(),
    /** Largest volume in bytes; the bundle is split over as many volumes as it needs. */
    volumeSize: whole(1).optional(),
    /** Largest part in bytes (default: the target file system's largest file); lowered in tests. */
    partSize: whole(1).optional(),
    /** Plan only: the verdict, nothing written. */
    dryRun: flag.optional(),
    progressIntervalMs,
    /** `bundle` (default) or `tree`: a plain mirror tree at `to`, where its file system can hold it. */
    layout: z.enum(['bundle', 'tree'], { error: 'bundle or tree' }).optional(),
    /** Eject the target's drive once written and verified, when it is a removable drive (default true). */
    eject: flag.optional(),
  })
  .superRefine((value, context) => {
    const refuse = (field: 'site' | 'source' | 'since' | 'layout', message: string): void => {
      context.addIssue({ code: 'custom', path: [field], message, input: value[field] });
    };
    // A tree has no ledger; the library needs a source or a saved selection to read.
    if (value.tree !== undefined && value.site !== undefined) refuse('site', 'left out with tree (only the library keeps a ledger of exports; use since)');
    else if (value.tree === undefined && value.source === undefined && value.profile === undefined) refuse('source', 'a source synced into the library, unless profile or tree is given');
    else if (value.site !== undefined && value.since !== undefined) refuse('since', 'left out with site (one base per bundle)');
    else if (value.layout === 'tree' && (value.site !== undefined || value.since !== undefined || value.volumeSize !== undefined || (value.nextTargets ?? []).length > 0)) {
      refuse('layout', 'bundle with site, since, volumeSize or nextTargets (a plain tree holds every file, on one volume)');
    }
  });

/**
 * The kinds of job and the input each takes. Adding a kind is one line here, one in
 * jobOutcomeSchemas and in each union of outputs.ts (jobOutcomeSchema, jobInputSchema), one in
 * startJobInput (calls.ts), and its runner in engine/engine.ts.
 */
export const jobInputSchemas = {
  /** Fetch, verify and parse a stream, and keep it for query, plan and later jobs. */
  load: streamInputSchema,
  mirror: mirrorInputSchema,
  sync: syncInputSchema,
  gc: gcInputSchema,
  /** Re-hash a bundle against its manifest, after checking its signatures (`ferry verify`). */
  verify: bundleInputSchema,
  /** Build a mirror tree from a bundle (`ferry import`). */
  import: importInputSchema,
  export: exportInputSchema,
} as const;

export type JobKind = keyof typeof jobInputSchemas;
export const JOB_KINDS = Object.keys(jobInputSchemas) as JobKind[];
export const jobKindSchema = z.enum(JOB_KINDS as [JobKind, ...JobKind[]], { error: `one of ${JOB_KINDS.join(', ')}` });

/** What to select from a loaded stream: filter groups as text, and the newest N versions of each product. */
export const selectionRequestSchema = z.object({
  selection: selectionGroupsSchema,
  max: whole(0).optional(),
});

export type StreamSettings = z.infer<typeof streamSettingsSchema>;
export type StreamInput = z.infer<typeof streamInputSchema>;
export type StreamRef = z.infer<typeof streamRefSchema>;
export type SelectionGroups = z.infer<typeof selectionGroupsSchema>;
export type TransferInput = z.infer<typeof transferInputSchema>;
export type MirrorInput = z.infer<typeof mirrorInputSchema>;
export type SyncInput = z.infer<typeof syncInputSchema>;
export type GcInput = z.infer<typeof gcInputSchema>;
export type BundleInput = z.infer<typeof bundleInputSchema>;
export type ImportInput = z.infer<typeof importInputSchema>;
export type ExportInput = z.infer<typeof exportInputSchema>;
export type JobInputs = { [K in JobKind]: z.infer<(typeof jobInputSchemas)[K]> };
export type SelectionRequest = z.infer<typeof selectionRequestSchema>;
