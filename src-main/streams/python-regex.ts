// Filters written for sstream use Python `re` syntax and semantics. This module reads a Python
// pattern and writes an equivalent JavaScript one (compiled with the 'v' flag, so it works on code
// points as Python does), or refuses it with the reason. Behaviour kept from Python:
// - \d \w \s \b are Unicode-aware (\w is letters, numbers and '_'); (?a) makes them ASCII.
// - '.' excludes only '\n'; '$' also matches before a final '\n'; with (?m), '^' and '$' work at
//   '\n' only (JavaScript's multiline mode would also split at '\r', U+2028 and U+2029).
// - \A is the start and \Z the very end of the text (Python's '$' and \Z differ, see above).
// - (?P<name>...) and (?P=name); \x, \u, \U, octal and numbered escapes; `{,n}`; a '{' that does
//   not form a quantifier is a literal; ']' first in a class is a literal.
// - The errors Python raises (bad escapes, nothing to repeat, unknown groups, global flags not at
//   the start, ...) are refusals here too.
// Refused because JavaScript cannot express them: (?x), scoped flags (?i:...), possessive
// quantifiers, atomic groups, conditionals (?(1)...), and \N{NAME}. Known remaining differences:
// JavaScript accepts variable-width lookbehind, which Python refuses, and Unicode case folding may
// differ for a few characters.

import { FerryError } from '../base/errors.js';

export interface TranslatedRegex {
  readonly source: string;
  readonly flags: string;
}

interface CharacterSets {
  readonly digit: string;
  readonly word: string;
  readonly space: string;
}

const UNICODE_SETS: CharacterSets = {
  digit: '\\p{Nd}',
  word: '\\p{L}\\p{N}_',
  // Python's str.isspace(): unlike JavaScript's \s it includes U+001C..U+001F and U+0085, and
  // excludes U+FEFF.
  space: '\\t\\n\\v\\f\\r\\u{1c}-\\u{1f} \\u{85}\\u{a0}\\u{1680}\\u{2000}-\\u{200a}\\u{2028}\\u{2029}\\u{202f}\\u{205f}\\u{3000}',
};

const ASCII_SETS: CharacterSets = { digit: '0-9', word: 'A-Za-z0-9_', space: ' \\t\\n\\r\\f\\v' };

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = { a: 0x07, f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09, v: 0x0b, '\\': 0x5c };
const HEX_ESCAPE_LENGTHS: Readonly<Record<string, number>> = { x: 2, u: 4, U: 8 };

type AtomKind = 'none' | 'atom' | 'assertion' | 'lookaround' | 'quantified';

interface CharacterClassPart {
  readonly text: string;
  /** The code point, when the part is a single character (it may then start or end a range). */
  readonly codePoint?: number;
}

/** Compiles a Python pattern to a RegExp; `context` names where it came from, for the message. */
export function compilePythonRegex(pattern: string, context: string): RegExp {
  const translated = translatePythonRegex(pattern, context);
  try {
    return new RegExp(translated.source, translated.flags);
  } catch (error) {
    throw refusal(context, pattern, `JavaScript cannot compile it (${error instanceof Error ? error.message : String(error)})`, error);
  }
}

export function translatePythonRegex(pattern: string, context: string): TranslatedRegex {
  return new PythonRegexTranslator(pattern, context).translate();
}

class PythonRegexTranslator {
  private position = 0;
  private ascii = false;
  private explicitUnicode = false;
  private ignoreCase = false;
  private dotAll = false;
  private multiline = false;
  private groupCount = 0;
  private readonly closedGroups = new Set<number>();
  private readonly groupNames = new Map<string, number>();

  constructor(
    private readonly pattern: string,
    private readonly context: string,
  ) {}

  translate(): TranslatedRegex {
    this.readLeadingGlobalFlags();
    const source = this.translateAlternatives();
    if (this.position < this.pattern.length) this.fail('it has an unbalanced parenthesis');
    return { source, flags: this.ignoreCase ? 'iv' : 'v' };
  }

  private get sets(): CharacterSets {
    return this.ascii ? ASCII_SETS : UNICODE_SETS;
  }

  // Python 3.11 accepts (?flags) only at the very start of the pattern.
  private readLeadingGlobalFlags(): void {
    for (;;) {
      const match = /^\(\?([a-zA-Z]+)\)/.exec(this.pattern.slice(this.position));
      if (match === null || match[1] === undefined) return;
      for (const letter of match[1]) this.applyGlobalFlag(letter);
      if (this.ascii && this.explicitUnicode) this.fail("the flags 'a' and 'u' contradict each other");
      this.position += match[0].length;
    }
  }

  private applyGlobalFlag(letter: string): void {
    switch (letter) {
      case 'i':
        this.ignoreCase = true;
        return;
      case 's':
        this.dotAll = true;
        return;
      case 'm':
        this.multiline = true;
        return;
      case 'a':
        this.ascii = true;
        return;
      case 'u':
        this.explicitUnicode = true;
        return;
      case 'x':
        return this.fail('verbose mode (?x) is not supported; remove the flag and the whitespace and comments it allows');
      case 'L':
        return this.fail('the (?L) flag cannot be used with text (Python refuses it too)');
      default:
        return this.fail(`(?${letter}) is not a Python flag`);
    }
  }

  private translateAlternatives(): string {
    let output = this.translateSequence();
    while (this.pattern[this.position] === '|') {
      this.position += 1;
      output += `|${this.translateSequence()}`;
    }
    return output;
  }

  // One alternative: atoms and quantifiers up to '|', ')' or the end.
  private translateSequence(): string {
    let output = '';
    let lastKind: AtomKind = 'none';
    let lastStart = 0;
    for (;;) {
      const character = this.pattern[this.position];
      if (character === undefined || character === '|' || character === ')') return output;
      const quantifier = this.readQuantifier();
      if (quantifier !== undefined) {
        if (lastKind === 'none' || lastKind === 'assertion') this.fail('a quantifier has nothing to repeat');
        if (lastKind === 'quantified') this.fail('it repeats a repetition (multiple repeat)');
        // JavaScript refuses a quantified lookaround unless it is wrapped in a group.
        if (lastKind === 'lookaround') output = `${output.slice(0, lastStart)}(?:${output.slice(lastStart)})`;
        output += quantifier;
        lastKind = 'quantified';
        continue;
      }
      const start = output.length;
      const atom = this.translateAtom();
      if (atom === undefined) continue;
      output += atom.text;
      lastKind = atom.kind;
      lastStart = start;
    }
  }

  private readQuantifier(): string | undefined {
    const character = this.pattern[this.position];
    let quantifier: string;
    if (character === '*' || character === '+' || character === '?') {
      quantifier = character;
      this.position += 1;
    } else if (character === '{') {
      const match = /^\{(\d*)(?:(,)(\d*))?\}/.exec(this.pattern.slice(this.position));
      if (match === null || match[0] === '{}') return undefined;
      const [text, low = '', comma, high = ''] = match;
      const minimum = low === '' ? 0 : Number(low);
      if (comma !== undefined && high !== '' && Number(high) < minimum) this.fail(`the repetition ${text} has its minimum above its maximum`);
      quantifier = comma === undefined ? `{${minimum}}` : `{${minimum},${high}}`;
      this.position += text.length;
    } else {
      return undefined;
    }
    const modifier = this.pattern[this.position];
    if (modifier === '?') {
      this.position += 1;
      return `${quantifier}?`;
    }
    if (modifier === '+') this.fail('possessive quantifiers such as *+ are not supported by JavaScript');
    return quantifier;
  }

  /** One atom, or undefined for a comment group, which matches nothing and is not an atom. */
  private translateAtom(): { text: string; kind: AtomKind } | undefined {
    const codePoint = this.pattern.codePointAt(this.position) ?? 0;
    // A character above U+FFFF is one atom but two UTF-16 units.
    this.position += codePoint > 0xffff ? 2 : 1;
    switch (String.fromCodePoint(codePoint)) {
      case '(':
        return this.translateGroup();
      case '[':
        return { text: this.translateCharacterClass(), kind: 'atom' };
      case '\\':
        return this.translateEscape();
      case '.':
        return { text: this.dotAll ? '[^]' : '[^\\n]', kind: 'atom' };
      case '^':
        return { text: this.multiline ? '(?<![^\\n])' : '^', kind: 'assertion' };
      case '$':
        return { text: this.multiline ? '(?![^\\n])' : '(?=\\n?$)', kind: 'assertion' };
      default:
        return { text: literal(codePoint), kind: 'atom' };
    }
  }

  private translateGroup(): { text: string; kind: AtomKind } | undefined {
    if (this.pattern[this.position] !== '?') {
      this.groupCount += 1;
      const number = this.groupCount;
      const body = this.translateGroupBody();
      this.closedGroups.add(number);
      return { text: `(${body})`, kind: 'atom' };
    }
    const rest = this.pattern.slice(this.position + 1);
    const lookaround = /^(?:=|!|<=|<!)/.exec(rest)?.[0];
    if (lookaround !== undefined) {
      this.position += 1 + lookaround.length;
      return { text: `(?${lookaround}${this.translateGroupBody()})`, kind: 'lookaround' };
    }
    if (rest.startsWith(':')) {
      this.position += 2;
      return { text: `(?:${this.translateGroupBody()})`, kind: 'atom' };
    }
    if (rest.startsWith('#')) {
      const end = this.pattern.indexOf(')', this.position);
      if (end === -1) this.fail('a comment group (?#...) is not closed');
      this.position = end + 1;
      return undefined;
    }
    if (rest.startsWith('P<')) return this.translateNamedGroup();
    if (rest.startsWith('P=')) return this.translateNamedReference();
    if (rest.startsWith('>')) this.fail('atomic groups (?>...) are not supported by JavaScript');
    if (rest.startsWith('(')) this.fail('conditional groups (?(...)...) are not supported by JavaScript');
    if (/^[-a-zA-Z]+:/.test(rest)) this.fail('scoped inline flags such as (?i:...) are not supported by JavaScript; put (?i) at the start instead');
    if (/^[a-zA-Z]+\)/.test(rest)) this.fail('inline flags such as (?i) must be at the very start of the pattern');
    return this.fail(`(?${rest.slice(0, 2)} is not a Python group`);
  }

  private translateNamedGroup(): { text: string; kind: AtomKind } {
    const name = this.readGroupName('>');
    if (this.groupNames.has(name)) this.fail(`the group name ${name} is defined twice`);
    this.groupCount += 1;
    const number = this.groupCount;
    this.groupNames.set(name, number);
    const body = this.translateGroupBody();
    this.closedGroups.add(number);
    return { text: `(?<${name}>${body})`, kind: 'atom' };
  }

  private translateNamedReference(): { text: string; kind: AtomKind } {
    const name = this.readGroupName(')');
    const number = this.groupNames.get(name);
    if (number === undefined) this.fail(`it refers to the unknown group ${name}`);
    if (!this.closedGroups.has(number)) this.fail(`it refers to the group ${name} from inside that group`);
    return { text: `\\k<${name}>`, kind: 'atom' };
  }

  // Reads "(?P<name>" or "(?P=name)" from the '?' on; leaves the position after the terminator.
  private readGroupName(terminator: string): string {
    const nameStart = this.position + 3;
    const end = this.pattern.indexOf(terminator, nameStart);
    if (end === -1) this.fail('a group name is not terminated');
    const name = this.pattern.slice(nameStart, end);
    if (!/^[\p{ID_Start}_][\p{ID_Continue}]*$/u.test(name)) this.fail(`${JSON.stringify(name)} is not a valid group name`);
    this.position = end + 1;
    return name;
  }

  private translateGroupBody(): string {
    const body = this.translateAlternatives();
    if (this.pattern[this.position] !== ')') this.fail('a group is not closed with )');
    this.position += 1;
    return body;
  }

  private translateEscape(): { text: string; kind: AtomKind } {
    const letter = this.pattern[this.position];
    if (letter === undefined) this.fail('it ends with a lone backslash');
    this.position += 1;
    const sets = this.sets;
    const word = `[${sets.word}]`;
    switch (letter) {
      case 'A':
        return { text: '^', kind: 'assertion' };
      case 'Z':
        return { text: '$', kind: 'assertion' };
      case 'b':
        return { text: `(?:(?<=${word})(?!${word})|(?<!${word})(?=${word}))`, kind: 'assertion' };
      case 'B':
        // Python's \B never matches in an empty text.
        return { text: `(?:(?<=${word})(?=${word})|(?<!${word})(?!${word})(?:(?<=[^])|(?=[^])))`, kind: 'assertion' };
      case 'd':
      case 'D':
      case 'w':
      case 'W':
      case 's':
      case 'S':
        return { text: this.categoryClass(letter, false), kind: 'atom' };
      default:
        break;
    }
    if (letter >= '1' && letter <= '9') return this.translateNumberedEscape(letter);
    return { text: literal(this.readCharacterEscape(letter, false)), kind: 'atom' };
  }

  // Python reads \NN as a group reference unless it is a three-digit octal escape.
  private translateNumberedEscape(firstDigit: string): { text: string; kind: AtomKind } {
    let digits = firstDigit;
    const second = this.pattern[this.position];
    if (second !== undefined && /\d/.test(second)) {
      digits += second;
      this.position += 1;
      const third = this.pattern[this.position];
      if (third !== undefined && /^[0-7]{2}$/.test(digits) && /[0-7]/.test(third)) {
        this.position += 1;
        return { text: literal(this.checkedOctal(digits + third)), kind: 'atom' };
      }
    }
    const group = Number(digits);
    if (group > this.groupCount) this.fail(`it refers to group ${group}, which does not exist at that point`);
    if (!this.closedGroups.has(group)) this.fail(`it refers to group ${group} from inside that group`);
    // Wrapped so that a digit after the reference stays a literal digit.
    return { text: `(?:\\${group})`, kind: 'atom' };
  }

  private readCharacterEscape(letter: string, inClass: boolean): number {
    const simple = SIMPLE_ESCAPES[letter];
    if (simple !== undefined) return simple;
    if (inClass && letter === 'b') return 0x08;
    const hexLength = HEX_ESCAPE_LENGTHS[letter];
    if (hexLength !== undefined) {
      const hex = this.pattern.slice(this.position, this.position + hexLength);
      if (!new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(hex)) this.fail(`the escape \\${letter} needs ${hexLength} hex digits`);
      const codePoint = Number.parseInt(hex, 16);
      if (codePoint > 0x10ffff) this.fail(`the escape \\${letter}${hex} is beyond Unicode`);
      this.position += hexLength;
      return codePoint;
    }
    if (letter === 'N') this.fail('named character escapes \\N{...} are not supported; write the character itself');
    if (letter === '0' || (inClass && letter >= '1' && letter <= '7')) {
      let digits = letter;
      while (digits.length < 3 && /[0-7]/.test(this.pattern[this.position] ?? '')) {
        digits += this.pattern[this.position] ?? '';
        this.position += 1;
      }
      return this.checkedOctal(digits);
    }
    if (/[0-9A-Za-z]/.test(letter)) this.fail(`\\${letter} is not a Python escape`);
    const codePoint = this.pattern.codePointAt(this.position - 1) ?? 0;
    // A character above U+FFFF occupies two UTF-16 units.
    if (codePoint > 0xffff) this.position += 1;
    return codePoint;
  }

  private checkedOctal(digits: string): number {
    const value = Number.parseInt(digits, 8);
    if (value > 0o377) this.fail(`the octal escape \\${digits} is above \\377`);
    return value;
  }

  private categoryClass(letter: string, inClass: boolean): string {
    const sets = this.sets;
    const body = letter === 'd' || letter === 'D' ? sets.digit : letter === 'w' || letter === 'W' ? sets.word : sets.space;
    const negated = letter === letter.toUpperCase();
    if (negated) return `[^${body}]`;
    return inClass ? body : `[${body}]`;
  }

  // Python's rules: ']' right after '[' or '[^' is a literal, '-' is a range only between two
  // single characters, and a class escape cannot end a range.
  private translateCharacterClass(): string {
    const negate = this.pattern[this.position] === '^';
    if (negate) this.position += 1;
    const start = this.position;
    const parts: string[] = [];
    for (;;) {
      const character = this.pattern[this.position];
      if (character === undefined) this.fail('a character class [...] is not closed');
      if (character === ']' && this.position !== start) {
        this.position += 1;
        return `[${negate ? '^' : ''}${parts.join('')}]`;
      }
      const first = this.readClassPart();
      if (this.pattern[this.position] === '-' && this.pattern[this.position + 1] !== ']') {
        this.position += 1;
        if (this.pattern[this.position] === undefined) this.fail('a character class [...] is not closed');
        const last = this.readClassPart();
        if (first.codePoint === undefined || last.codePoint === undefined) this.fail('a range in a character class starts or ends with a class such as \\d');
        if (last.codePoint < first.codePoint) this.fail('a range in a character class runs backwards');
        parts.push(`${first.text}-${last.text}`);
      } else {
        parts.push(first.text);
      }
    }
  }

  private readClassPart(): CharacterClassPart {
    const codePoint = this.pattern.codePointAt(this.position) ?? 0;
    this.position += codePoint > 0xffff ? 2 : 1;
    if (codePoint !== 0x5c) return { text: literal(codePoint), codePoint };
    const letter = this.pattern[this.position];
    if (letter === undefined) this.fail('a character class [...] is not closed');
    this.position += 1;
    if ('dDwWsS'.includes(letter)) return { text: this.categoryClass(letter, true) };
    if (letter === '8' || letter === '9') this.fail(`\\${letter} is not a valid escape in a character class`);
    const escaped = this.readCharacterEscape(letter, true);
    return { text: literal(escaped), codePoint: escaped };
  }

  private fail(problem: string): never {
    throw refusal(this.context, this.pattern, problem);
  }
}

// Letters, digits, '_' and non-ASCII characters are safe as they are; everything else is escaped
// by code point, which means the same inside and outside a 'v'-mode class.
function literal(codePoint: number): string {
  const character = String.fromCodePoint(codePoint);
  const isSurrogate = codePoint >= 0xd800 && codePoint <= 0xdfff;
  const isSafeAsIs = /^[A-Za-z0-9_]$/.test(character) || (codePoint >= 0xa0 && !isSurrogate && codePoint !== 0x2028 && codePoint !== 0x2029);
  return isSafeAsIs ? character : `\\u{${codePoint.toString(16)}}`;
}

function refusal(context: string, pattern: string, problem: string, cause?: unknown): FerryError {
  return new FerryError('FERRY_FILTER_INVALID', `In ${context}, the regular expression ${JSON.stringify(pattern)} cannot be used: ${problem}.`, {
    hint: 'Filters use Python regular expressions, searched anywhere in the value (use ^ and $ to anchor), for example release~^(jammy|noble)$.',
    cause,
  });
}
