// Item filters with the reference's grammar (simplestreams/filters.py): KEY OP VALUE, where the
// value is looked up in the flattened item and a missing key reads as ''. Filters in one group
// must all match; our addition is that groups separated by a literal '--or' argument are
// alternatives, so images and bootloaders can be selected in one run.

import { FerryError } from '../base/errors.js';
import type { FlatItem } from './flatten.js';
import { compilePythonRegex } from './python-regex.js';

export const OR_SEPARATOR = '--or';

export type EqualityOperator = '=' | '!=';
export type SearchOperator = '~' | '!~';

interface FilterBase {
  /** The argument exactly as given; formatSelection writes it back unchanged. */
  readonly expression: string;
  readonly key: string;
  readonly value: string;
}

export type ItemFilter =
  | (FilterBase & { readonly operator: EqualityOperator })
  | (FilterBase & { readonly operator: SearchOperator; readonly pattern: RegExp });

export interface Selection {
  /** An item is selected when every filter of at least one group matches it. */
  readonly groups: readonly (readonly ItemFilter[])[];
}

// The reference's expression `([\w|\-]+)[ ]*([!]{0,1}[=~])[ ]*(.*)[ ]*$` under re.match. Python's
// \w is Unicode letters, numbers and '_'; its '.' stops only at '\n', and its '$' also matches
// before one final '\n', which is therefore dropped from the value.
const FILTER_SYNTAX = /^([\p{L}\p{N}_|-]+) *(!?[=~]) *([^\n]*) *\n?$/u;

const FILTER_HINT =
  "Write KEY OP VALUE: KEY is letters, digits, '_', '-' or '|' (no '.' or ':'), OP is = != ~ or !~, for example arch=amd64 or release~(jammy|noble).";

/**
 * One `KEY OP VALUE` filter as sstream's filters.py reads it (= != ~ !~; ~ searches a Python
 * regular expression). Throws FERRY_FILTER_INVALID for another shape or a regex JavaScript cannot
 * express.
 */
export function parseFilter(expression: string): ItemFilter {
  const match = FILTER_SYNTAX.exec(expression);
  const [, key, operatorText, value] = match ?? [];
  if (key === undefined || operatorText === undefined || value === undefined) {
    throw new FerryError('FERRY_FILTER_INVALID', `Unable to parse the filter expression ${JSON.stringify(expression)}.`, { hint: FILTER_HINT });
  }
  // FILTER_SYNTAX admits exactly these four operators.
  const operator = operatorText as EqualityOperator | SearchOperator;
  if (operator === '=' || operator === '!=') return { expression, key, operator, value };
  return { expression, key, operator, value, pattern: compilePythonRegex(value, `the filter ${JSON.stringify(expression)}`) };
}

/**
 * Filter groups split on a literal OR_SEPARATOR argument (our addition: the reference has one group);
 * an item must match every filter of some group. Throws FERRY_FILTER_INVALID (parseFilter, or a
 * separator with no filters on one side).
 */
export function parseSelection(args: readonly string[]): Selection {
  const groups: ItemFilter[][] = [[]];
  for (const arg of args) {
    if (arg === OR_SEPARATOR) groups.push([]);
    else groups[groups.length - 1]?.push(parseFilter(arg));
  }
  if (groups.length > 1 && groups.some((group) => group.length === 0)) {
    throw new FerryError('FERRY_FILTER_INVALID', `A ${OR_SEPARATOR} has no filters on one side: ${args.join(' ')}`, {
      hint: `Put filters on both sides of every ${OR_SEPARATOR}, e.g. arch=amd64 release~(jammy|noble) ${OR_SEPARATOR} os~(grub*|pxelinux).`,
    });
  }
  return { groups };
}

/** The selection as arguments that parseSelection reads back to the same selection. Throws nothing. */
export function formatSelection(selection: Selection): string[] {
  return selection.groups.flatMap((group, index) => [...(index === 0 ? [] : [OR_SEPARATOR]), ...group.map((filter) => filter.expression)]);
}

/** Reads one field of an item's flat view; undefined when the item has no such field. */
export type FieldReader = (key: string) => string | undefined;

export function filterMatches(flat: FlatItem, filter: ItemFilter): boolean {
  return valueMatches(flat[filter.key] ?? '', filter);
}

/** Whether an item's flat view matches some group of the selection (sstream's filter_item). Throws nothing. */
export function selectionMatches(flat: FlatItem, selection: Selection): boolean {
  return selectionMatchesFields((key) => flat[key], selection);
}

/** selectionMatches for callers that can read single fields more cheaply than building the map. */
export function selectionMatchesFields(readField: FieldReader, selection: Selection): boolean {
  return selection.groups.some((group) => group.every((filter) => valueMatches(readField(filter.key) ?? '', filter)));
}

function valueMatches(actual: string, filter: ItemFilter): boolean {
  switch (filter.operator) {
    case '=':
      return actual === filter.value;
    case '!=':
      return actual !== filter.value;
    case '~':
      return filter.pattern.test(actual);
    case '!~':
      return !filter.pattern.test(actual);
  }
}
