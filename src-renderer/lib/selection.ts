// Filter groups as the text an operator types: one group per line, its filters separated by
// spaces, exactly the arguments sstream-mirror and `ferry sync` take (groups joined by `--or`).
// Parsing a filter itself (key=value, key~regex, key!=value) is the engine's job: it refuses a bad
// one with FERRY_FILTER_INVALID, which the catalog shows next to the text.
import type { SelectionGroups } from './client.js';
import { shellWord } from '../../src-main/base/format.js';

export function groupsToText(groups: SelectionGroups): string {
  return groups.map((group) => group.join(' ')).join('\n');
}

export function textToGroups(text: string): SelectionGroups {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/).filter((filter) => filter !== ''))
    .filter((group) => group.length > 0);
}

/** The same selection as `ferry sync` arguments, for the operator to copy into a script. */
export function groupsToArguments(groups: SelectionGroups): string {
  return groups.map((group) => group.map(shellWord).join(' ')).join(' --or ');
}

/** `ferry sync` filter arguments (a saved profile's `filters`, groups joined by `--or`) as filter groups. */
export function argumentsToGroups(filters: readonly string[]): SelectionGroups {
  const groups: SelectionGroups = [[]];
  for (const filter of filters) {
    if (filter === '--or') groups.push([]);
    else groups.at(-1)?.push(filter);
  }
  return groups.filter((group) => group.length > 0);
}

export function sameGroup(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((filter, index) => filter === b[index]);
}
