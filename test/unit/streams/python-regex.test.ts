import { describe, expect, it } from 'vitest';
import { isFerryError } from '../../../src-main/base/errors.js';
import { compilePythonRegex, translatePythonRegex } from '../../../src-main/streams/python-regex.js';
import { readGolden } from './reference-data.js';

interface RegexGolden {
  readonly pattern: string;
  readonly subject: string;
  readonly match?: string | null;
  readonly error?: string;
}

// Python accepts these, JavaScript cannot express them: refused with a reason.
const REFUSED_THOUGH_PYTHON_ACCEPTS = new Map([
  ['(?x)a b', 'verbose mode'],
  ['a*+', 'possessive'],
  ['a++', 'possessive'],
  ['a{2}+', 'possessive'],
  ['(?>a)', 'atomic groups'],
  ['(?i:a)b', 'scoped inline flags'],
  ['(?-i:a)', 'scoped inline flags'],
  ['\\N{DIGIT ONE}', 'named character escapes'],
]);
// Python refuses a variable-width lookbehind; JavaScript runs it.
const ACCEPTED_THOUGH_PYTHON_REFUSES = new Set(['(?<=a+)b']);

function compileOrError(pattern: string): RegExp | Error {
  try {
    return compilePythonRegex(pattern, 'a test');
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
}

describe('Python regular expressions', () => {
  const golden = readGolden('python-regex.json') as RegexGolden[];

  it('has a golden set with matches, misses and errors', () => {
    expect(golden.length).toBeGreaterThan(140);
    expect(golden.filter((entry) => entry.error !== undefined).length).toBeGreaterThan(20);
    expect(golden.filter((entry) => entry.match === null).length).toBeGreaterThan(10);
  });

  it.each(golden.map((entry) => [entry.pattern, entry.subject, entry] as const))('%j on %j behaves as Python re.search', (pattern, subject, entry) => {
    const compiled = compileOrError(pattern);
    const refusedReason = REFUSED_THOUGH_PYTHON_ACCEPTS.get(pattern);
    if (refusedReason !== undefined) {
      expect(entry.error).toBeUndefined();
      expect(isFerryError(compiled, 'FERRY_FILTER_INVALID')).toBe(true);
      expect((compiled as Error).message).toContain(refusedReason);
      return;
    }
    if (ACCEPTED_THOUGH_PYTHON_REFUSES.has(pattern)) {
      expect(entry.error).toContain('look-behind requires fixed-width pattern');
      expect(compiled).toBeInstanceOf(RegExp);
      return;
    }
    if (entry.error !== undefined) {
      expect(isFerryError(compiled, 'FERRY_FILTER_INVALID'), `${pattern} must be refused (${entry.error})`).toBe(true);
      return;
    }
    expect(compiled).toBeInstanceOf(RegExp);
    expect((compiled as RegExp).exec(subject)?.[0] ?? null).toBe(entry.match);
  });

  it('translates Python-only syntax to JavaScript', () => {
    expect(translatePythonRegex('(?P<day>\\d)(?P=day)', 'a test').source).toBe('(?<day>[\\p{Nd}])\\k<day>');
    expect(translatePythonRegex('\\Ajammy\\Z', 'a test').source).toBe('^jammy$');
    expect(translatePythonRegex('(?i)ubuntu', 'a test')).toEqual({ source: 'ubuntu', flags: 'iv' });
    expect(translatePythonRegex('jammy', 'a test').flags).toBe('v');
  });

  it('repeats a character above U+FFFF as one character, as Python does', () => {
    expect(compilePythonRegex('^😀+$', 'a test').exec('😀😀')?.[0]).toBe('😀😀');
    expect(compilePythonRegex('😀{2}', 'a test').test('😀\ude00')).toBe(false);
  });

  it("keeps Python's '$' (end or before a final newline) apart from \\Z (end only)", () => {
    expect(compilePythonRegex('amd64$', 'a test').test('amd64\n')).toBe(true);
    expect(compilePythonRegex('amd64\\Z', 'a test').test('amd64\n')).toBe(false);
  });

  it('names the filter, the pattern and the problem when refusing', () => {
    expect(() => compilePythonRegex('(?x) a', 'the filter "os~(?x) a"')).toThrow(
      'In the filter "os~(?x) a", the regular expression "(?x) a" cannot be used: verbose mode (?x) is not supported',
    );
    expect(() => compilePythonRegex('a(?i)b', 'a test')).toThrow('inline flags such as (?i) must be at the very start');
    expect(() => compilePythonRegex('()(?(1)a|b)', 'a test')).toThrow('conditional groups');
    expect(() => compilePythonRegex('(a)\\2', 'a test')).toThrow('refers to group 2, which does not exist');
    expect(() => compilePythonRegex('(unclosed', 'a test')).toThrow('a group is not closed');
  });

  it('refuses anything as a FerryError with a hint', () => {
    const error = compileOrError('[z-a]');
    expect(isFerryError(error, 'FERRY_FILTER_INVALID')).toBe(true);
    expect(isFerryError(error) && error.hint).toContain('Python regular expressions');
  });
});
