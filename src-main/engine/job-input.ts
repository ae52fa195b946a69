import { FerryError } from '../base/errors.js';
import { OR_SEPARATOR, parseSelection, type Selection } from '../streams/index.js';
import type { JobInputs, JobKind, SelectionGroups, TransferInput } from './api.js';

// Every input is checked here before a job starts, because it may come from a renderer that is
// not trusted (product.md: "every API call validated in the engine"). A refusal is
// FERRY_INPUT_INVALID naming the field; only faces throw FERRY_USAGE, in their own words.

type Fields = Readonly<Record<string, unknown>>;

function refuse(field: string, expected: string, actual: unknown): FerryError {
  const shown = actual === undefined ? 'nothing' : JSON.stringify(actual);
  return new FerryError('FERRY_INPUT_INVALID', `${field} must be ${expected}, not ${shown}.`, { field, expected, actual: shown });
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

function optionalWhole(fields: Fields, name: string, prefix: string, min: number): void {
  const value = fields[name];
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw refuse(prefix + name, `a whole number, ${min} or more`, value);
}

function optionalStrings(fields: Fields, name: string, prefix: string): void {
  const value = fields[name];
  if (value === undefined) return;
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string')) throw refuse(prefix + name, 'a list of strings', value);
}

/** Filter groups as text into a Selection. Throws FERRY_INPUT_INVALID for a malformed list, FERRY_FILTER_INVALID for a bad filter. */
export function selectionFromGroups(groups: unknown, field = 'selection'): Selection {
  if (!Array.isArray(groups) || !groups.every((group) => Array.isArray(group) && group.every((filter) => typeof filter === 'string'))) {
    throw refuse(field, 'a list of filter groups, each a list of filter strings', groups);
  }
  return parseSelection((groups).flatMap((group, index) => (index === 0 ? group : [OR_SEPARATOR, ...group])));
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
  optionalWhole(fields, 'stallTimeoutMs', prefix, 1000);
}

function checkStreamRef(value: unknown, field: string, settingsAlone: boolean): void {
  const fields = record(value, field);
  if ('streamId' in fields) {
    requiredString(fields, 'streamId', `${field}.`);
    return;
  }
  if (settingsAlone && !('source' in fields)) {
    checkSettings(fields, `${field}.`);
    return;
  }
  requiredString(fields, 'source', `${field}.`);
  optionalString(fields, 'path', `${field}.`);
  checkSettings(fields, `${field}.`);
}

function checkTransfer(fields: Fields): void {
  const names: Array<keyof TransferInput> = ['concurrency', 'connectionsPerHost', 'progressIntervalMs'];
  for (const name of names) optionalWhole(fields, name, '', 1);
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
    // A saved selection runs exactly as it was saved.
    for (const name of ['selection', 'max', 'keep'] as const) {
      if (fields[name] !== undefined && fields[name] !== false) throw refuse(name, 'left out when a saved selection runs without a stream', fields[name]);
    }
  },
  gc(fields) {
    optionalString(fields, 'library', '');
    optionalBoolean(fields, 'dryRun', '');
  },
};

function isRecordWith(value: unknown, key: string): boolean {
  return typeof value === 'object' && value !== null && key in value;
}

/** Throws FERRY_INPUT_INVALID (naming the field) or FERRY_FILTER_INVALID unless `input` is a valid input of `kind`. */
export function validateJobInput<K extends JobKind>(kind: K, input: unknown): JobInputs[K] {
  if (!Object.hasOwn(checks, kind)) throw refuse('kind', `one of ${Object.keys(checks).join(', ')}`, kind);
  checks[kind](record(input, 'input'));
  return input as JobInputs[K];
}
