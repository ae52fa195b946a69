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
  // A saved selection runs exactly as it was saved.
  for (const name of ['selection', 'max', 'keep'] as const) {
    if (value[name] !== undefined && value[name] !== false) context.addIssue({ code: 'custom', path: [name], message: 'left out when a saved selection runs without a stream', input: value[name] });
  }
});

export const gcInputSchema = z.object({
  library: text.optional(),
  /** List what would be removed and remove nothing. */
  dryRun: flag.optional(),
});

/**
 * The kinds of job and the input each takes. Adding a kind (export, verify, import) is one line
 * here, one in jobOutcomeSchemas (outputs.ts), and its runner in engine/engine.ts.
 */
export const jobInputSchemas = {
  /** Fetch, verify and parse a stream, and keep it for query, plan and later jobs. */
  load: streamInputSchema,
  mirror: mirrorInputSchema,
  sync: syncInputSchema,
  gc: gcInputSchema,
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
export type JobInputs = { [K in JobKind]: z.infer<(typeof jobInputSchemas)[K]> };
export type SelectionRequest = z.infer<typeof selectionRequestSchema>;
