import type { z } from 'zod';
import { describeError, FerryError } from '../base/errors.js';
import { JOB_KINDS, jobInputSchemas, selectionGroupsSchema, selectionRequestSchema } from '../contract/index.js';
import { OR_SEPARATOR, parseSelection, type Selection } from '../streams/index.js';
import type { JobInputs, JobKind, SelectionGroups } from './api.js';

// Every input is checked here before a job starts or a call acts, because it may come from a
// renderer that is not trusted (product.md: "every API call validated in the engine"), against the
// contract's zod schemas (src-main/contract/), the one definition of each input. A refusal is
// FERRY_INPUT_INVALID naming the field; only faces throw FERRY_USAGE, in their own words.

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

/** The value at `path` inside `value`, for describing what was refused. */
function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/**
 * The issue to report for a value that matched no branch of a union (a stream given by id or by
 * source): the branch that found fault with most fields the caller did give, as that is the branch
 * they meant; on a tie, the first (the contract lists the fullest form first).
 */
function unionIssue(issue: z.core.$ZodIssueInvalidUnion, value: unknown): z.core.$ZodIssue {
  const branches = issue.errors.filter((branch) => branch.length > 0);
  const given = (branch: z.core.$ZodIssue[]): number => branch.filter((inner) => valueAt(value, [...issue.path, ...inner.path]) !== undefined).length;
  let chosen = branches[0];
  for (const branch of branches) if (chosen === undefined || given(branch) > given(chosen)) chosen = branch;
  const inner = chosen?.[0];
  return inner === undefined ? issue : { ...inner, path: [...issue.path, ...inner.path] };
}

/**
 * The refusal for the first issue zod found: FERRY_INPUT_INVALID naming the field as a dotted path
 * (`stream.retries`), cut before any list index so a list is named as a whole (`selection`), with
 * the schema's own wording of what was expected (src-main/contract/inputs.ts).
 */
function refusalFor(error: z.ZodError, value: unknown, root: string): FerryError {
  let issue: z.core.$ZodIssue | undefined = error.issues[0];
  while (issue?.code === 'invalid_union' && issue.errors.length > 0) {
    const next = unionIssue(issue, value);
    if (next === issue) break;
    issue = next;
  }
  if (issue === undefined) return refuse(root, 'valid', value);
  const path: PropertyKey[] = [...issue.path];
  // A discriminated union names the discriminator that matched no branch (`kind`).
  if (issue.code === 'invalid_union' && 'discriminator' in issue && typeof issue.discriminator === 'string') path.push(issue.discriminator);
  const listIndex = path.findIndex((key) => typeof key === 'number');
  const named = listIndex === -1 ? path : path.slice(0, listIndex);
  const expected = issue.code === 'invalid_type' && issue.expected === 'object' ? 'an object' : issue.message;
  return refuse(named.length === 0 ? root : named.map(String).join('.'), expected, valueAt(value, named));
}

/**
 * `value` checked against `schema` (one of the contract's, src-main/contract/): the parsed copy,
 * which holds only the fields the schema names. Throws FERRY_INPUT_INVALID naming the field (`root`
 * when the value as a whole is refused).
 */
export function checkInput<Schema extends z.ZodType>(schema: Schema, value: unknown, root = 'input'): z.infer<Schema> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw refusalFor(parsed.error, value, root);
  return parsed.data;
}

/**
 * Checks what query() and products() take: `selection` (filter groups) and `max` (0 or more).
 * Throws FERRY_INPUT_INVALID naming the field (`request`, `selection`, `max`), FERRY_FILTER_INVALID.
 */
export function selectionRequest(request: unknown): { selection: Selection; max: number | undefined } {
  const checked = checkInput(selectionRequestSchema, request, 'request');
  return { selection: selectionFromGroups(checked.selection), max: checked.max };
}

/** The kinds of job plan() dry-runs, as FERRY_INPUT_INVALID (field `kind`) for any other. */
export function plannedKind(kind: unknown): 'mirror' | 'sync' {
  if (kind !== 'mirror' && kind !== 'sync') throw refuse('kind', 'mirror or sync (the jobs plan() dry-runs)', kind);
  return kind;
}

/** Filter groups as text into a Selection. Throws FERRY_INPUT_INVALID for a malformed list, FERRY_FILTER_INVALID for a bad filter. */
export function selectionFromGroups(groups: unknown, field = 'selection'): Selection {
  const checked = checkInput(selectionGroupsSchema, groups, field);
  return parseSelection(checked.flatMap((group, index) => (index === 0 ? group : [OR_SEPARATOR, ...group])));
}

/**
 * Command-line style filter arguments (groups separated by `--or`) as filter groups, checked the
 * way a job will check them. Throws FERRY_FILTER_INVALID.
 */
export function filterGroups(args: readonly string[]): SelectionGroups {
  return parseSelection(args).groups.map((group) => group.map((filter) => filter.expression));
}

/**
 * A checked copy of `input` as a `kind` job's input, against the contract's schema for that kind
 * (src-main/contract/inputs.ts), its filters parsed too. It is checked as a structuredClone taken
 * first, so the job runs with exactly what was checked: a getter or Proxy cannot answer
 * differently later, an inherited field is gone, and a caller's later edits stay out.
 * Throws FERRY_INPUT_INVALID (naming the field; field `input` for a value structuredClone cannot
 * carry: a function, symbol or Proxy) or FERRY_FILTER_INVALID.
 */
export function validateJobInput<K extends JobKind>(kind: K, input: unknown): JobInputs[K] {
  if (typeof kind !== 'string' || !Object.hasOwn(jobInputSchemas, kind)) throw refuse('kind', `one of ${JOB_KINDS.join(', ')}`, kind);
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
  const checked = checkInput(jobInputSchemas[kind], copy) as JobInputs[K];
  if ('selection' in checked && checked.selection !== undefined) selectionFromGroups(checked.selection);
  return checked;
}
