// The catalog's JSON columns read back: text that does not decode to the shape written is damage
// (FERRY_CATALOG_CORRUPT naming the catalog file and `where`, the column of which row).
import { FerryError } from '../../base/errors.js';
import { CORRUPT_HINT } from './connection.js';
import type { JsonValue } from './records.js';

/** Any JSON the catalog wrote (a job's summary, an event's data). */
export function readJson(file: string, text: string, where: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    throw unreadable(file, where);
  }
}

/** A JSON array of strings (keyring fingerprints, a product's versions). */
export function readStringArray(file: string, text: string, where: string): string[] {
  return asStringArray(file, readJson(file, text, where), where);
}

/** Filter groups as a selection stores them: an array of arrays of filter strings. */
export function readFilterGroups(file: string, text: string, where: string): string[][] {
  const groups = readJson(file, text, where);
  if (!Array.isArray(groups)) throw unreadable(file, where);
  return (groups as readonly JsonValue[]).map((group) => asStringArray(file, group, where));
}

function asStringArray(file: string, value: JsonValue, where: string): string[] {
  if (!Array.isArray(value)) throw unreadable(file, where);
  const strings: string[] = [];
  for (const element of value as readonly JsonValue[]) {
    if (typeof element !== 'string') throw unreadable(file, where);
    strings.push(element);
  }
  return strings;
}

function unreadable(file: string, where: string): FerryError {
  return new FerryError('FERRY_CATALOG_CORRUPT', `The catalog ${file} holds unreadable ${where}`, {
    path: file,
    hint: CORRUPT_HINT,
  });
}
