// Why a selection matched nothing, and whether a MAAS selection forgot its bootloaders, as plain
// data: the faces word it. sstream exits 0 with no output when nothing matches; that exit code is
// kept for compatibility, but an operator must not be left guessing (issue 11 §2).

import { nearestNames } from '../base/suggest.js';
import { filterMatches, selectionMatches, type ItemFilter, type Selection } from './filters.js';
import type { FlatItem } from './flatten.js';

/** How many existing values a diagnosis names for a filter whose value no item has. */
const VALUES_SHOWN = 6;

export interface UnknownKey {
  /** The filter as given, e.g. `arches=amd64`. */
  readonly filter: string;
  readonly key: string;
  /** Keys the stream's items do have that are near `key` (edit distance), nearest first. */
  readonly nearestKeys: readonly string[];
}

export interface UnmatchedValue {
  readonly filter: string;
  readonly key: string;
  /** For `=`: existing values near the one given; for `~`: the first existing values (sorted). */
  readonly nearestValues: readonly string[];
}

export interface SameKeyAlternatives {
  /** The `=` filters on one key that were ANDed, so no item can match them all: `release=noble`, `release=jammy`. */
  readonly filters: readonly string[];
  /** One search filter that takes any of their values: `release~^(noble|jammy)$`. */
  readonly regex: string;
  /** The group again with `filters` replaced by `regex` and its other filters kept. */
  readonly group: readonly string[];
}

export interface NoMatchReport {
  /** Every filter of the selection, in order, once each: the faces explain MAAS's words among them. */
  readonly filters: readonly string[];
  /** Filters on a key no item has (a missing key reads as '', as in the reference). */
  readonly unknownKeys: readonly UnknownKey[];
  /** Filters on a key that exists, that match no item even alone. */
  readonly unmatchedValues: readonly UnmatchedValue[];
  /** Groups whose filters on different keys each match some item alone but none together: likely meant as alternatives (--or). */
  readonly andedAlternatives: readonly (readonly string[])[];
  /** Groups that AND two or more values of one key: meant as one filter taking any of them (a search filter, not --or). */
  readonly sameKeyAlternatives: readonly SameKeyAlternatives[];
}

/**
 * Why `selection` selects none of `items` (flat views of every item of the stream): filter keys
 * no item has, with near keys; positive filters whose value no item has, with near values; and
 * groups whose filters match apart but not together. Two `=` values of one key in a group are
 * one filter's alternatives (`release~^(noble|jammy)$`); --or is offered only between different
 * keys, since splitting `arch=amd64 release=noble release=jammy` at each filter selects far more.
 * Empty lists when nothing stands out. Throws nothing.
 */
export function explainNoMatch(items: readonly FlatItem[], selection: Selection): NoMatchReport {
  const keys = new Set<string>();
  for (const item of items) for (const key of Object.keys(item)) keys.add(key);
  const unknownKeys: UnknownKey[] = [];
  const unmatchedValues: UnmatchedValue[] = [];
  const andedAlternatives: string[][] = [];
  const sameKeyAlternatives: SameKeyAlternatives[] = [];
  const seen = new Set<string>();
  for (const group of selection.groups) {
    const matchingAlone = group.filter((filter) => items.some((item) => filterMatches(item, filter)));
    const sameKey = sameKeyEqualities(group);
    sameKeyAlternatives.push(...sameKey);
    if (sameKey.length === 0 && group.length > 1 && matchingAlone.length === group.length) andedAlternatives.push(group.map((filter) => filter.expression));
    for (const filter of group) {
      if (seen.has(filter.expression) || matchingAlone.includes(filter)) continue;
      seen.add(filter.expression);
      if (!keys.has(filter.key)) {
        unknownKeys.push({ filter: filter.expression, key: filter.key, nearestKeys: nearestNames(filter.key, keys) });
      } else {
        unmatchedValues.push({ filter: filter.expression, key: filter.key, nearestValues: valuesNear(items, filter) });
      }
    }
  }
  const filters = [...new Set(selection.groups.flat().map((filter) => filter.expression))];
  return { filters, unknownKeys, unmatchedValues, andedAlternatives, sameKeyAlternatives };
}

/** Python `re` and JavaScript agree on these escapes; a value may hold '.' (`20.04`) or '+'. */
const REGEX_SPECIAL = /[.*+?^${}()|[\]\\]/g;

/** Each key that a group tests with `=` for two or more different values, as one search filter. */
function sameKeyEqualities(group: readonly ItemFilter[]): SameKeyAlternatives[] {
  const byKey = new Map<string, ItemFilter[]>();
  for (const filter of group) {
    if (filter.operator === '=') byKey.set(filter.key, [...(byKey.get(filter.key) ?? []), filter]);
  }
  const found: SameKeyAlternatives[] = [];
  for (const [key, filters] of byKey) {
    const values = [...new Set(filters.map((filter) => filter.value))];
    if (values.length < 2) continue;
    const regex = `${key}~^(${values.map((value) => value.replace(REGEX_SPECIAL, '\\$&')).join('|')})$`;
    const replaced = new Set(filters);
    const merged = group.flatMap((filter) => (filter === filters[0] ? [regex] : replaced.has(filter) ? [] : [filter.expression]));
    found.push({ filters: filters.map((filter) => filter.expression), regex, group: merged });
  }
  return found;
}

function valuesNear(items: readonly FlatItem[], filter: ItemFilter): string[] {
  const values = new Set<string>();
  for (const item of items) {
    const value = item[filter.key];
    if (value !== undefined) values.add(value);
  }
  const sorted = [...values].sort();
  if (filter.operator === '=') {
    const near = nearestNames(filter.value, sorted, VALUES_SHOWN);
    return near.length > 0 ? near : sorted.slice(0, VALUES_SHOWN);
  }
  return sorted.slice(0, VALUES_SHOWN);
}

/** The key MAAS's bootloader products carry (simplestreams_bootloaders.json on images.maas.io). */
export const BOOTLOADER_KEY = 'bootloader-type';

/** A filter group that selects every bootloader product, for the shortcut that adds them. */
export const BOOTLOADER_GROUP: readonly string[] = [`${BOOTLOADER_KEY}~.`];

/**
 * Whether a selection takes MAAS boot images but no bootloader although the stream has some:
 * MAAS cannot PXE- or UEFI-boot machines from such a mirror. Throws nothing.
 */
export function lacksBootloaders(items: readonly FlatItem[], selection: Selection): boolean {
  let streamHasBootloaders = false;
  let selectsImages = false;
  for (const item of items) {
    const bootloader = item[BOOTLOADER_KEY] !== undefined;
    streamHasBootloaders ||= bootloader;
    if (!selectionMatches(item, selection)) continue;
    if (bootloader) return false;
    selectsImages ||= item.kflavor !== undefined || item.subarch !== undefined;
  }
  return streamHasBootloaders && selectsImages;
}
