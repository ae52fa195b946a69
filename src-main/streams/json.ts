// JSON text in, JSON values out, printed the way the Python reference prints them.
//
// The reference flattens metadata with Python's str(): an int prints its exact digits and a float
// prints its repr (1.0 -> "1.0", 1e16 -> "1e+16"). JSON.parse cannot tell 1.0 from 1 and rounds big
// integers, so documents that contain such numbers go through a slower parser that keeps them as
// PyNumber. Everything else takes the native JSON.parse path, which is what keeps large catalogs fast.

import { FerryError } from '../base/errors.js';
import { formatBytes } from '../base/format.js';

/** Metadata files larger than this are refused before parsing (the live MAAS catalogs are a few MB). */
export const MAX_METADATA_BYTES = 64 * 1024 * 1024;

/**
 * Deeper nesting is refused on every parse path. CPython 3.11's json (simplestreams, MAAS) raises
 * RecursionError past 1000 levels less the caller's stack depth: 994 from a top-level script, fewer
 * from inside sstream-mirror. 900 leaves that margin, and no real stream nests beyond about 10.
 */
export const MAX_JSON_NESTING = 900;

/** A JSON number whose Python str() differs from JavaScript's String(): a float, or a long integer. */
export class PyNumber {
  constructor(
    /** What Python's str() prints for this number. */
    readonly pythonText: string,
    /** The nearest double, for arithmetic. */
    readonly value: number,
  ) {}
}

export type JsonValue = null | boolean | number | string | PyNumber | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export interface ParseJsonOptions {
  /**
   * Parse so that keysInSourceOrder() returns the text's key order even for objects with
   * integer-like keys, which JavaScript would otherwise enumerate first, in numeric order.
   */
  readonly preserveKeyOrder?: boolean;
}

// Only objects whose enumeration order differs from the text's are recorded (those with
// integer-like keys), so the table stays empty for ordinary documents.
const recordedKeyOrder = new WeakMap<JsonObject, string[]>();

/** The object's keys in the order the JSON text listed them (Python's dict order). */
export function keysInSourceOrder(object: JsonObject): string[] {
  return recordedKeyOrder.get(object)?.slice() ?? Object.keys(object);
}

/** keysInSourceOrder with the values. */
export function entriesInSourceOrder(object: JsonObject): [string, JsonValue][] {
  // The keys come from the object itself, so every lookup finds a value.
  return keysInSourceOrder(object).map((key) => [key, object[key] as JsonValue]);
}

/** Sets a property even when the key is "__proto__", keeping the recorded key order up to date. */
export function setJsonProperty(object: JsonObject, key: string, value: JsonValue): void {
  const order = recordedKeyOrder.get(object);
  if (order !== undefined && !Object.hasOwn(object, key)) order.push(key);
  Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
}

export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof PyNumber);
}

/** A property the object itself holds, never one inherited from Object.prototype. */
export function ownJsonValue(object: JsonObject, key: string): JsonValue | undefined {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

/** An integer-like key: JavaScript enumerates these before all other keys, in numeric order. */
export function isArrayIndexKey(key: string): boolean {
  return /^(?:0|[1-9]\d{0,9})$/.test(key) && Number(key) < 4294967295;
}

// A number token that native parsing would print differently from Python: one with a fraction or
// exponent, or an integer of 16 or more digits. Number tokens in valid JSON only ever follow the
// start of the text, a key's closing quote and colon, '[' or ','; matches inside strings are false
// positives that merely cost the slower path.
const NUMBER_NEEDING_PYTHON_TEXT = /(?:^|"\s*:|[[,])\s*-?(?:\d+[.eE]|\d{16})/;

/**
 * The JSON value of `text` as Python's json module reads it (NaN, Infinity; integer-valued floats
 * keep their spelling). `where` names the file in messages. Throws FERRY_TOO_LARGE over
 * MAX_METADATA_BYTES, FERRY_JSON_MALFORMED naming the line and column.
 */
export function parseJsonDocument(text: string, where: string, options: ParseJsonOptions = {}): JsonValue {
  assertWithinSizeLimit(text, where);
  assertNestingWithinLimit(text, where);
  if (options.preserveKeyOrder !== true && !NUMBER_NEEDING_PYTHON_TEXT.test(text)) {
    try {
      return JSON.parse(text) as JsonValue;
    } catch {
      // The careful parser below reports the line and column, and accepts NaN and Infinity as
      // Python's json module does.
    }
  }
  return new CarefulJsonParser(text, where).parseDocument();
}

/** Python's str() of a scalar JSON value; undefined for null, lists and objects (the reference drops those). */
export function pythonStr(value: JsonValue | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return pythonFloatRepr(value);
    return Math.abs(value) < 1e21 ? String(value) : BigInt(value).toString();
  }
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (value instanceof PyNumber) return value.pythonText;
  return undefined;
}

/** Python's repr() of a float: the shortest round-tripping digits, laid out by Python's rules. */
export function pythonFloatRepr(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const sign = value < 0 ? '-' : '';
  // toExponential() without an argument yields the same shortest digits Python's repr uses.
  const [mantissa = '', exponentText = '0'] = Math.abs(value).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const pointPosition = Number(exponentText) + 1;
  if (pointPosition > 16 || pointPosition < -3) {
    const exponent = pointPosition - 1;
    const fraction = digits.length > 1 ? `.${digits.slice(1)}` : '';
    const exponentDigits = String(Math.abs(exponent)).padStart(2, '0');
    return `${sign}${digits[0] ?? ''}${fraction}e${exponent < 0 ? '-' : '+'}${exponentDigits}`;
  }
  if (pointPosition <= 0) return `${sign}0.${'0'.repeat(-pointPosition)}${digits}`;
  if (pointPosition >= digits.length) return `${sign}${digits}${'0'.repeat(pointPosition - digits.length)}.0`;
  return `${sign}${digits.slice(0, pointPosition)}.${digits.slice(pointPosition)}`;
}

function assertWithinSizeLimit(text: string, where: string): void {
  // One UTF-16 unit encodes to at most 3 UTF-8 bytes and at least 1, so most texts are decided
  // without counting.
  if (text.length * 3 <= MAX_METADATA_BYTES) return;
  const bytes = text.length > MAX_METADATA_BYTES ? text.length : utf8ByteLength(text);
  if (bytes <= MAX_METADATA_BYTES) return;
  throw new FerryError(
    'FERRY_TOO_LARGE',
    `${where} is larger than the ${formatBytes(MAX_METADATA_BYTES)} allowed for a metadata file (at least ${formatBytes(bytes)}).`,
    {
      hint: 'Check that the source really is a SimpleStreams mirror; real index and products files are a few megabytes.',
      expected: `at most ${MAX_METADATA_BYTES} bytes`,
      actual: `${bytes} bytes`,
    },
  );
}

function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let index = 0; index < text.length; index += 1) {
    const unit = text.charCodeAt(index);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(text.charCodeAt(index + 1))) {
      bytes += 4;
      index += 1;
    } else bytes += 3;
  }
  return bytes;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * FERRY_FORMAT_UNSUPPORTED when arrays and objects nest more than MAX_JSON_NESTING deep, checked on
 * the text before either parser runs: JSON.parse would build such a tree (a 64 MiB file can hold 32
 * million levels), and the careful parser recurses. One pass, strings skipped with indexOf: measured
 * 0.33-0.45 s for a 62 MiB catalog on the 2-core bench machine, where JSON.parse of it takes 0.9-1.3 s.
 * Malformed text is left to the parsers to report.
 */
function assertNestingWithinLimit(text: string, where: string): void {
  let depth = 0;
  for (let index = 0; index < text.length; index += 1) {
    const unit = text.charCodeAt(index);
    if (unit === QUOTE) {
      index = closingQuote(text, index + 1);
    } else if (unit === OPEN_BRACKET || unit === OPEN_BRACE) {
      depth += 1;
      if (depth > MAX_JSON_NESTING) {
        const { line, column } = lineAndColumn(text, index);
        throw new FerryError(
          'FERRY_FORMAT_UNSUPPORTED',
          `${where} nests too deep: its values are nested more than ${MAX_JSON_NESTING} levels deep at line ${line}, column ${column}, which Python's json (simplestreams, MAAS) cannot read either.`,
          { expected: `at most ${MAX_JSON_NESTING} levels`, hint: 'No real SimpleStreams file nests like this; report it to the publisher.' },
        );
      }
    } else if (unit === CLOSE_BRACKET || unit === CLOSE_BRACE) {
      depth -= 1;
    }
  }
}

/** The index of the quote that closes a string whose text starts at `from`, or the text's end. */
function closingQuote(text: string, from: number): number {
  for (let quote = text.indexOf('"', from); quote !== -1; quote = text.indexOf('"', quote + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return quote;
  }
  return text.length;
}

const WHITESPACE = /[ \t\n\r]*/y;
const NUMBER_TOKEN = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const ESCAPED_CHARACTERS: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/**
 * A recursive-descent JSON parser with Python json.loads semantics: numbers keep their Python
 * spelling, NaN/Infinity/-Infinity are accepted, duplicate keys keep the last value, and errors
 * carry a line and column. Its recursion is bounded by assertNestingWithinLimit, which runs first.
 */
class CarefulJsonParser {
  private position = 0;

  constructor(
    private readonly text: string,
    private readonly where: string,
  ) {}

  parseDocument(): JsonValue {
    if (this.text.startsWith('\ufeff')) {
      this.fail('the text starts with a byte order mark (BOM), which JSON does not allow');
    }
    const value = this.parseValue();
    this.skipWhitespace();
    if (this.position < this.text.length) this.fail('extra data after the JSON value');
    return value;
  }

  private parseValue(): JsonValue {
    this.skipWhitespace();
    const character = this.text[this.position];
    switch (character) {
      case '{':
        return this.parseObject();
      case '[':
        return this.parseArray();
      case '"':
        return this.parseString();
      default:
        break;
    }
    if (this.consumeWord('true')) return true;
    if (this.consumeWord('false')) return false;
    if (this.consumeWord('null')) return null;
    if (this.consumeWord('NaN')) return new PyNumber('nan', NaN);
    if (this.consumeWord('Infinity')) return new PyNumber('inf', Infinity);
    if (this.consumeWord('-Infinity')) return new PyNumber('-inf', -Infinity);
    return this.parseNumber();
  }

  private parseObject(): JsonObject {
    this.position += 1;
    const object: JsonObject = {};
    const keys: string[] = [];
    let hasArrayIndexKey = false;
    this.skipWhitespace();
    if (this.text[this.position] === '}') {
      this.position += 1;
      return object;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.position] !== '"') this.fail('expecting a property name enclosed in double quotes');
      const key = this.parseString();
      this.skipWhitespace();
      if (this.text[this.position] !== ':') this.fail("expecting ':' after the property name");
      this.position += 1;
      const value = this.parseValue();
      if (!Object.hasOwn(object, key)) keys.push(key);
      if (key === '__proto__') setJsonProperty(object, key, value);
      else object[key] = value;
      hasArrayIndexKey ||= isArrayIndexKey(key);
      this.skipWhitespace();
      const separator = this.text[this.position];
      this.position += 1;
      if (separator === '}') break;
      if (separator !== ',') {
        this.position -= 1;
        this.fail("expecting ',' or '}' after a property value");
      }
    }
    if (hasArrayIndexKey) recordedKeyOrder.set(object, keys);
    return object;
  }

  private parseArray(): JsonValue[] {
    this.position += 1;
    const array: JsonValue[] = [];
    this.skipWhitespace();
    if (this.text[this.position] === ']') {
      this.position += 1;
      return array;
    }
    for (;;) {
      array.push(this.parseValue());
      this.skipWhitespace();
      const separator = this.text[this.position];
      this.position += 1;
      if (separator === ']') break;
      if (separator !== ',') {
        this.position -= 1;
        this.fail("expecting ',' or ']' after an array element");
      }
    }
    return array;
  }

  private parseString(): string {
    const start = this.position;
    this.position += 1;
    let result = '';
    for (;;) {
      const runStart = this.position;
      while (this.position < this.text.length && !endsPlainRun(this.text.charCodeAt(this.position))) this.position += 1;
      result += this.text.slice(runStart, this.position);
      const character = this.text[this.position];
      if (character === '"') {
        this.position += 1;
        return result;
      }
      if (character === undefined) {
        this.position = start;
        this.fail('unterminated string');
      }
      if (character !== '\\') this.fail('invalid control character in a string');
      const escape = this.text[this.position + 1];
      if (escape === 'u') {
        const hex = this.text.slice(this.position + 2, this.position + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape');
        result += String.fromCharCode(Number.parseInt(hex, 16));
        this.position += 6;
      } else {
        const replacement = escape === undefined ? undefined : ESCAPED_CHARACTERS[escape];
        if (replacement === undefined) this.fail('invalid \\escape');
        result += replacement;
        this.position += 2;
      }
    }
  }

  private parseNumber(): number | PyNumber {
    NUMBER_TOKEN.lastIndex = this.position;
    const match = NUMBER_TOKEN.exec(this.text);
    if (match === null) this.fail('expecting a value');
    const lexeme = match[0];
    this.position += lexeme.length;
    const value = Number(lexeme);
    if (match[1] !== undefined || match[2] !== undefined) return new PyNumber(pythonFloatRepr(value), value);
    const digitCount = lexeme.startsWith('-') ? lexeme.length - 1 : lexeme.length;
    // Up to 15 digits a double is exact and String() prints it as Python would.
    return digitCount < 16 ? value : new PyNumber(lexeme, value);
  }

  private consumeWord(word: string): boolean {
    if (!this.text.startsWith(word, this.position)) return false;
    this.position += word.length;
    return true;
  }

  private skipWhitespace(): void {
    WHITESPACE.lastIndex = this.position;
    WHITESPACE.test(this.text);
    this.position = WHITESPACE.lastIndex;
  }

  private fail(problem: string): never {
    const { line, column } = lineAndColumn(this.text, this.position);
    throw new FerryError('FERRY_JSON_MALFORMED', `${this.where} is not valid JSON: ${problem} at line ${line}, column ${column}.`, {
      hint: 'The file may be truncated or damaged; fetch it again, or check the mirror that serves it.',
    });
  }
}

// A quote, a backslash or a control character (which JSON strings must escape).
function endsPlainRun(unit: number): boolean {
  return unit === 0x22 || unit === 0x5c || unit < 0x20;
}

function lineAndColumn(text: string, position: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let index = text.indexOf('\n'); index !== -1 && index < position; index = text.indexOf('\n', index + 1)) {
    line += 1;
    lineStart = index + 1;
  }
  // Columns count characters (code points), as Python's json module reports them.
  return { line, column: Array.from(text.slice(lineStart, position)).length + 1 };
}
