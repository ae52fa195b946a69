import { describeError, FerryError } from '../base/errors.js';
import { OR_SEPARATOR, parseSelection, type Selection } from '../streams/index.js';
import type { JobInputs, JobKind, SelectionGroups, TransferInput } from './api.js';
import { LONGEST_TIMER_MS } from '../base/cancel.js';

// Every input is checked here before a job starts, because it may come from a renderer that is
// not trusted (product.md: "every API call validated in the engine"). A refusal is
// FERRY_INPUT_INVALID naming the field; only faces throw FERRY_USAGE, in their own words.

type Fields = Readonly<Record<string, unknown>>;

/** The longest description of a refused value: an input may be megabytes, and the message is shown whole. */
const SHOWN_CHARS = 80;

/**
 * A refused value in at most 80 characters: its type and a preview. Described, never serialized:
 * JSON.stringify throws on a BigInt or a cycle, echoes a huge value whole, and shows NaN as null.
 */
export function describeValue(value: unknown): string {
  const shown = describeWhole(value);
  return shown.length <= SHOWN_CHARS ? shown : `${shown.slice(0, SHOWN_CHARS - 1)}…`;
}

function describeWhole(value: unknown): string {
  switch (typeof value) {
    case 'undefined':
      return 'nothing';
    case 'string':
      // Cut before quoting, so a huge string is not copied whole first.
      return `the string ${JSON.stringify(value.slice(0, SHOWN_CHARS))}`;
    case 'number':
    case 'boolean':
      return String(value);
    case 'bigint':
      return `the BigInt ${value.toString().slice(0, SHOWN_CHARS)}`;
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      if (value === null) return 'null';
      if (Array.isArray(value)) return `a list of ${value.length} ${value.length === 1 ? 'entry' : 'entries'}`;
      return `an object with the fields ${Object.keys(value as object).slice(0, 10).join(', ') || '(none)'}`;
  }
}

function refuse(field: string, expected: string, actual: unknown): FerryError {
  const shown = describeValue(actual);
  return new FerryError('FERRY_INPUT_INVALID', `${field} must be ${expected}, not ${shown}.`, { field, expected, actual: shown });
}

/**
 * Checks what query() and products() take: `selection` (filter groups) and `max` (0 or more).
 * Throws FERRY_INPUT_INVALID naming the field (`request`, `selection`, `max`), FERRY_FILTER_INVALID.
 */
export function selectionRequest(request: unknown): { selection: Selection; max: number | undefined } {
  const fields = record(request, 'request');
  optionalWhole(fields, 'max', '', 0);
  return { selection: selectionFromGroups(fields.selection), max: fields.max as number | undefined };
}

/** The kinds of job plan() dry-runs, as FERRY_INPUT_INVALID (field `kind`) for any other. */
export function plannedKind(kind: unknown): 'mirror' | 'sync' {
  if (kind !== 'mirror' && kind !== 'sync') throw refuse('kind', 'mirror or sync (the jobs plan() dry-runs)', kind);
  return kind;
}

/** Every index of a list holds an entry that passes `test`: a hole in a sparse list fails, where every() skips it. */
function isListOf(value: unknown, test: (entry: unknown) => boolean): value is unknown[] {
  if (!Array.isArray(value)) return false;
  for (let index = 0; index < value.length; index++) {
    if (!Object.hasOwn(value, index) || !test(value[index])) return false;
  }
  return true;
}

function record(value: unknown, field: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw refuse(field, 'an object', value);
  return value as Fields;
}

function optionalString(fields: Fields, name: string, prefix: string): void {
  const value = fields[name];
  if (value !== undefined && typeof value !== 'string') throw refuse(prefix + name, 'a string', value);
}

function requiredString(fields: Fields, name: string, prefix: string): void {
  const value = fields[name];
  if (typeof value !== 'string' || value === '') throw refuse(prefix + name, 'a non-empty string', value);
}

function optionalBoolean(fields: Fields, name: string, prefix: string): void {
  const value = fields[name];
  if (value !== undefined && typeof value !== 'boolean') throw refuse(prefix + name, 'true or false', value);
}


function optionalWhole(fields: Fields, name: string, prefix: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
  const value = fields[name];
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw refuse(prefix + name, max === Number.MAX_SAFE_INTEGER ? `a whole number, ${min} or more` : `a whole number from ${min} to ${max}`, value);
  }
}

function optionalStrings(fields: Fields, name: string, prefix: string): void {
  const value = fields[name];
  if (value === undefined) return;
  if (!isListOf(value, (entry) => typeof entry === 'string')) throw refuse(prefix + name, 'a list of strings', value);
}

/** Filter groups as text into a Selection. Throws FERRY_INPUT_INVALID for a malformed list, FERRY_FILTER_INVALID for a bad filter. */
export function selectionFromGroups(groups: unknown, field = 'selection'): Selection {
  if (!isListOf(groups, (group) => isListOf(group, (filter) => typeof filter === 'string'))) {
    throw refuse(field, 'a list of filter groups, each a list of filter strings', groups);
  }
  return parseSelection((groups as string[][]).flatMap((group, index) => (index === 0 ? group : [OR_SEPARATOR, ...group])));
}

/**
 * Command-line style filter arguments (groups separated by `--or`) as filter groups, checked the
 * way a job will check them. Throws FERRY_FILTER_INVALID.
 */
export function filterGroups(args: readonly string[]): SelectionGroups {
  return parseSelection(args).groups.map((group) => group.map((filter) => filter.expression));
}

function checkSettings(fields: Fields, prefix: string): void {
  optionalStrings(fields, 'keyringFiles', prefix);
  optionalBoolean(fields, 'verify', prefix);
  optionalString(fields, 'proxy', prefix);
  optionalWhole(fields, 'retries', prefix, 0);
  optionalWhole(fields, 'stallTimeoutMs', prefix, 1000, LONGEST_TIMER_MS);
}

function checkStreamRef(value: unknown, field: string, settingsAlone: boolean): void {
  const fields = record(value, field);
  if (Object.hasOwn(fields, 'streamId')) {
    requiredString(fields, 'streamId', `${field}.`);
    return;
  }
  if (settingsAlone && !Object.hasOwn(fields, 'source')) {
    checkSettings(fields, `${field}.`);
    return;
  }
  requiredString(fields, 'source', `${field}.`);
  optionalString(fields, 'path', `${field}.`);
  checkSettings(fields, `${field}.`);
}

function checkTransfer(fields: Fields): void {
  const names: Array<keyof TransferInput> = ['concurrency', 'connectionsPerHost'];
  for (const name of names) optionalWhole(fields, name, '', 1);
  optionalWhole(fields, 'progressIntervalMs', '', 1, LONGEST_TIMER_MS);
  optionalBoolean(fields, 'directIo', '');
  optionalBoolean(fields, 'dryRun', '');
  optionalBoolean(fields, 'verifyExisting', '');
}

function checkVersions(fields: Fields): void {
  optionalWhole(fields, 'max', '', 0);
  optionalBoolean(fields, 'keep', '');
  if (fields.keep === true && fields.max === undefined) throw refuse('keep', 'false unless max is given (it keeps up to max versions)', true);
}

const checks: { [K in JobKind]: (fields: Fields) => void } = {
  load(fields) {
    requiredString(fields, 'source', '');
    optionalString(fields, 'path', '');
    checkSettings(fields, '');
  },
  mirror(fields) {
    checkStreamRef(fields.stream, 'stream', false);
    requiredString(fields, 'target', '');
    selectionFromGroups(fields.selection);
    checkVersions(fields);
    optionalBoolean(fields, 'fetchItems', '');
    optionalStrings(fields, 'mirrors', '');
    checkTransfer(fields);
  },
  sync(fields) {
    optionalString(fields, 'library', '');
    optionalString(fields, 'profile', '');
    checkTransfer(fields);
    const hasSource = fields.stream !== undefined && (isRecordWith(fields.stream, 'streamId') || isRecordWith(fields.stream, 'source'));
    if (fields.stream !== undefined) checkStreamRef(fields.stream, 'stream', true);
    if (hasSource) {
      if (fields.selection !== undefined) selectionFromGroups(fields.selection);
      checkVersions(fields);
      return;
    }
    if (fields.profile === undefined) throw refuse('stream', 'a stream to sync from, unless profile names a saved selection', fields.stream);
    // A saved selection runs as it was saved; only max may be given for one run.
    optionalWhole(fields, 'max', '', 0);
    for (const name of ['selection', 'keep'] as const) {
      if (fields[name] !== undefined && fields[name] !== false) throw refuse(name, 'left out when a saved selection runs without a stream', fields[name]);
    }
  },
  gc(fields) {
    optionalString(fields, 'library', '');
    optionalBoolean(fields, 'dryRun', '');
  },
  verify: checkBundle,
  import(fields) {
    checkBundle(fields);
    requiredString(fields, 'target', '');
    optionalBoolean(fields, 'prune', '');
    optionalString(fields, 'serveUrl', '');
  },
  export(fields) {
    requiredString(fields, 'to', '');
    for (const name of ['tree', 'library', 'source', 'path', 'profile', 'site', 'since'] as const) optionalString(fields, name, '');
    optionalStrings(fields, 'keyringFiles', '');
    if (fields.selection !== undefined) selectionFromGroups(fields.selection);
    optionalWhole(fields, 'max', '', 1);
    optionalWhole(fields, 'volumeSize', '', 1);
    optionalWhole(fields, 'partSize', '', 1);
    optionalBoolean(fields, 'dryRun', '');
    optionalBoolean(fields, 'eject', '');
    optionalWhole(fields, 'progressIntervalMs', '', 1, LONGEST_TIMER_MS);
    if (fields.layout !== undefined && fields.layout !== 'bundle' && fields.layout !== 'tree') throw refuse('layout', 'bundle or tree', fields.layout);
    // A tree has no ledger; the library needs a source or a saved selection to read.
    if (fields.tree !== undefined && fields.site !== undefined) throw refuse('site', 'left out with tree (only the library keeps a ledger of exports; use since)', fields.site);
    if (fields.tree === undefined && fields.source === undefined && fields.profile === undefined) throw refuse('source', 'a source synced into the library, unless profile or tree is given', fields.source);
    if (fields.site !== undefined && fields.since !== undefined) throw refuse('since', 'left out with site (one base per bundle)', fields.since);
    if (fields.layout === 'tree' && (fields.site !== undefined || fields.since !== undefined || fields.volumeSize !== undefined)) {
      throw refuse('layout', 'bundle with site, since or volumeSize (a plain tree holds every file, on one volume)', fields.layout);
    }
  },
};

function checkBundle(fields: Fields): void {
  if (!isListOf(fields.bundles, (entry) => typeof entry === 'string' && entry !== '') || fields.bundles.length === 0) {
    throw refuse('bundles', 'a list of one or more bundle paths', fields.bundles);
  }
  optionalStrings(fields, 'keyringFiles', '');
  optionalBoolean(fields, 'trustBundleKeyrings', '');
  optionalWhole(fields, 'progressIntervalMs', '', 1, LONGEST_TIMER_MS);
}

function isRecordWith(value: unknown, key: string): boolean {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, key);
}

/**
 * A checked copy of `input` as a `kind` job's input. It is checked as a structuredClone taken
 * first, so the job runs with exactly what was checked: a getter or Proxy cannot answer
 * differently later, an inherited field is gone, and a caller's later edits stay out.
 * Throws FERRY_INPUT_INVALID (naming the field; field `input` for a value structuredClone cannot
 * carry: a function, symbol or Proxy) or FERRY_FILTER_INVALID.
 */
export function validateJobInput<K extends JobKind>(kind: K, input: unknown): JobInputs[K] {
  if (typeof kind !== 'string' || !Object.hasOwn(checks, kind)) throw refuse('kind', `one of ${Object.keys(checks).join(', ')}`, kind);
  let copy: unknown;
  try {
    copy = structuredClone(input);
  } catch (error) {
    // DataCloneError, or whatever a hostile getter throws while it is read.
    throw new FerryError('FERRY_INPUT_INVALID', `input must be plain data (no function, symbol or Proxy): ${describeError(error)}`.slice(0, 200), {
      field: 'input',
      expected: 'plain data (objects, lists, strings, numbers, booleans)',
      actual: describeValue(input),
      cause: error,
    });
  }
  checks[kind](record(copy, 'input'));
  return copy as JobInputs[K];
}
