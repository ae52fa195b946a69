import { describe, expect, it } from 'vitest';
import { FerryError, isFerryError } from '../../../src-main/base/errors.js';
import {
  keysInSourceOrder,
  MAX_JSON_NESTING,
  MAX_METADATA_BYTES,
  parseJsonDocument,
  pythonFloatRepr,
  pythonStr,
  PyNumber,
  type JsonObject,
} from '../../../src-main/streams/json.js';
import { readGolden, readSample } from './reference-data.js';
import { thrownFerryError } from '../../support/expect-ferry-error.js';

function parseObject(text: string): JsonObject {
  const value = parseJsonDocument(text, 'test.json');
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof PyNumber) throw new Error('not an object');
  return value;
}

describe('parseJsonDocument', () => {
  it('parses the real sample with plain JavaScript numbers (the fast path)', () => {
    const tree = parseObject(readSample('com.ubuntu.maas:stable:v3:download'));
    const products = tree['products'] as JsonObject;
    const product = products['com.ubuntu.maas.stable:v3:boot:22.04:amd64:ga-22.04'] as JsonObject;
    const squashfs = (((product['versions'] as JsonObject)['20250615'] as JsonObject)['items'] as JsonObject)['squashfs'] as JsonObject;
    expect(squashfs['size']).toBe(455872512);
    expect(product['version']).toBe('22.04');
  });

  it('keeps the Python spelling of floats and long integers', () => {
    const tree = parseObject('{"a": 1.0, "b": 1e16, "c": 1e-05, "d": 9223372036854775808, "e": 12, "f": true}');
    expect(tree['a']).toEqual(new PyNumber('1.0', 1));
    expect(tree['b']).toEqual(new PyNumber('1e+16', 1e16));
    expect(tree['c']).toEqual(new PyNumber('1e-05', 0.00001));
    expect(tree['d']).toBeInstanceOf(PyNumber);
    expect((tree['d'] as PyNumber).pythonText).toBe('9223372036854775808');
    expect(tree['e']).toBe(12);
    expect(tree['f']).toBe(true);
  });

  it('takes the careful path only when needed, yet gives equal results for a ":22.04:" inside a string', () => {
    const tree = parseObject('{"name": "boot:22.04:amd64", "size": 5}');
    expect(tree).toEqual({ name: 'boot:22.04:amd64', size: 5 });
  });

  it('accepts NaN and Infinity as Python json does', () => {
    const tree = parseObject('{"a": NaN, "b": -Infinity, "c": [Infinity]}');
    expect(pythonStr(tree['a'])).toBe('nan');
    expect(pythonStr(tree['b'])).toBe('-inf');
    expect(pythonStr((tree['c'] as PyNumber[])[0])).toBe('inf');
  });

  it('reports malformed JSON with the file, line and column', () => {
    const error = thrownFerryError(() => parseJsonDocument('{\n "a": 1,\n "b" 2\n}', 'streams/v1/index.json'));
    expect(error.code).toBe('FERRY_JSON_MALFORMED');
    expect(error.message).toBe("streams/v1/index.json is not valid JSON: expecting ':' after the property name at line 3, column 6.");
    expect(error.hint).toContain('fetch it again');
  });

  // Python's json module reports the same line and column for these texts.
  it('reports positions on the careful path too, counting characters not UTF-16 units', () => {
    const error = thrownFerryError(() => parseJsonDocument('{"😀": 1.5,, }', 'x.json'));
    expect(error.message).toBe('x.json is not valid JSON: expecting a property name enclosed in double quotes at line 1, column 11.');
  });

  it.each([
    ['', 'expecting a value at line 1, column 1'],
    ['{"a": "unterminated}', 'unterminated string at line 1, column 7'],
    ['[1, 2', "expecting ',' or ']' after an array element at line 1, column 6"],
    ['{"a": 1} x', 'extra data after the JSON value at line 1, column 10'],
    ['{"a": "tab\tinside"}', 'invalid control character in a string at line 1, column 11'],
    ['{"a": "\\q"}', 'invalid \\escape at line 1, column 8'],
    ['\ufeff{}', 'byte order mark'],
    ['{"a": 01}', "expecting ',' or '}' after a property value at line 1, column 8"],
  ])('refuses %j', (text, problem) => {
    expect(() => parseJsonDocument(text, 'f.json')).toThrow(problem);
  });

  // One limit on both parse paths (JSON.parse when no number needs its Python spelling, the careful
  // parser otherwise or when key order is kept), below CPython 3.11's (994 from a top-level script).
  const nested = (levels: number, inner: string): string => `{"deep": ${'['.repeat(levels - 1)}${inner}${']'.repeat(levels - 1)}, "format": "products:1.0"}`;
  const deepestError = (text: string, options?: { preserveKeyOrder: boolean }): FerryError | undefined => {
    try {
      parseJsonDocument(text, 'deep.json', options);
      return undefined;
    } catch (error) {
      if (!(error instanceof FerryError)) throw error;
      return error;
    }
  };
  it.each([
    ['the fast path', '1'],
    ['the careful parser (an integral float)', '1.0'],
  ])('refuses nesting deeper than the limit on %s, as a format problem', (_path, inner) => {
    expect(deepestError(nested(MAX_JSON_NESTING, inner))).toBeUndefined();
    for (const text of [nested(MAX_JSON_NESTING + 1, inner), nested(200_000, inner)]) {
      const error = deepestError(text);
      expect(error?.code).toBe('FERRY_FORMAT_UNSUPPORTED');
      expect(error?.message).toContain(`deep.json nests too deep: its values are nested more than ${MAX_JSON_NESTING} levels deep at line 1`);
    }
    expect(deepestError(nested(MAX_JSON_NESTING + 1, inner), { preserveKeyOrder: true })?.code).toBe('FERRY_FORMAT_UNSUPPORTED');
  });

  it('counts no bracket inside a string, escaped quotes included', () => {
    const brackets = '['.repeat(MAX_JSON_NESTING + 5);
    expect(deepestError(`{"a": "${brackets}", "b": "\\\\", "c": "\\"${brackets}"}`)).toBeUndefined();
  });

  it('keeps "__proto__" as an ordinary key on both paths', () => {
    for (const text of ['{"__proto__": {"polluted": 1}}', '{"__proto__": {"polluted": 1.5}}']) {
      const tree = parseObject(text);
      expect(Object.keys(tree)).toEqual(['__proto__']);
      expect(Object.getPrototypeOf(tree)).toBe(Object.prototype);
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    }
  });

  it('records the file key order for objects with integer-like keys when asked', () => {
    const text = '{"b": 1, "9": 2, "10": 3}';
    expect(keysInSourceOrder(parseObject(text))).toEqual(['9', '10', 'b']);
    const ordered = parseJsonDocument(text, 'order.json', { preserveKeyOrder: true }) as JsonObject;
    expect(keysInSourceOrder(ordered)).toEqual(['b', '9', '10']);
  });

  it(`refuses text above MAX_METADATA_BYTES (${MAX_METADATA_BYTES}) naming the file and the limit`, () => {
    const error = thrownFerryError(() => parseJsonDocument(' '.repeat(MAX_METADATA_BYTES + 1), 'streams/v1/huge.json'));
    expect(error.code).toBe('FERRY_TOO_LARGE');
    expect(error.message).toContain('streams/v1/huge.json is larger than the 64.0 MiB allowed');
  });

  it('counts UTF-8 bytes, not characters, against the limit', () => {
    const twoByteCharacters = 'é'.repeat(MAX_METADATA_BYTES / 2 + 1);
    expect(isFerryError(thrownFerryError(() => parseJsonDocument(`"${twoByteCharacters}"`, 'wide.json')), 'FERRY_TOO_LARGE')).toBe(true);
    const justFits = `"${'é'.repeat(MAX_METADATA_BYTES / 2 - 1)}"`;
    expect(parseJsonDocument(justFits, 'fits.json')).toHaveLength(MAX_METADATA_BYTES / 2 - 1);
  });
});

describe('Python number printing', () => {
  interface StrGolden {
    readonly literal: string;
    readonly python_str: string;
  }

  it("prints every golden literal exactly as Python's str(json.loads(literal))", () => {
    const golden = readGolden('python-str.json') as StrGolden[];
    expect(golden.length).toBeGreaterThan(400);
    const mismatches = golden.filter(({ literal, python_str }) => pythonStr(parseJsonDocument(literal, 'literal')) !== python_str);
    expect(mismatches).toEqual([]);
  });

  it.each([
    [1.0, '1.0'],
    [1e16, '1e+16'],
    [1e15, '1000000000000000.0'],
    [0.00001, '1e-05'],
    [0.0001, '0.0001'],
    [0.1, '0.1'],
    [-0, '-0.0'],
    [1.5e-7, '1.5e-07'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
  ])('pythonFloatRepr(%s) is %s', (value, expected) => {
    expect(pythonFloatRepr(value)).toBe(expected);
  });

  it('prints integers, booleans and strings as Python str() does, and drops the rest', () => {
    expect(pythonStr(455872512)).toBe('455872512');
    expect(pythonStr(2 ** 70)).toBe('1180591620717411303424');
    expect(pythonStr(true)).toBe('True');
    expect(pythonStr(false)).toBe('False');
    expect(pythonStr('22.04')).toBe('22.04');
    expect(pythonStr(null)).toBeUndefined();
    expect(pythonStr([1])).toBeUndefined();
    expect(pythonStr({ a: 1 })).toBeUndefined();
  });
});
