import { FerryError } from '../engine/index.js';

// sstream-query prints items with Python's `print("%s" % item)` and `-o` uses Python %-formatting.
// Scripts parse that output, so `ferry query` reproduces it for string-valued items.

/** Python's repr() of a str. */
export function pythonStringRepr(value: string): string {
  const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
  let out = quote;
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '\\') out += '\\\\';
    else if (char === quote) out += `\\${quote}`;
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (code >= 0x80 && code < 0xa0) out += `\\x${code.toString(16)}`;
    else out += char;
  }
  return out + quote;
}

/** Python's str() of a dict whose keys and values are strings, in insertion order. */
export function pythonDictRepr(entries: Iterable<[string, string]>): string {
  const parts: string[] = [];
  for (const [key, value] of entries) parts.push(`${pythonStringRepr(key)}: ${pythonStringRepr(value)}`);
  return `{${parts.join(', ')}}`;
}

const placeholder = /%(?:\(([^)]*)\))?([-#0 +]*\d*(?:\.\d+)?)([srad%])/g;

/**
 * Python's `format % mapping` for the conversions that make sense on string values: `%(key)s`,
 * `%(key)r` and `%%`. An item without a key the format names gives `{ missing: key }` (the first
 * such key), which sstream-query reports on stderr before going on with the next item. Throws
 * FERRY_USAGE for a placeholder without a key, which no item can fill.
 */
export function pythonPercentFormat(format: string, values: ReadonlyMap<string, string>): string | { missing: string } {
  let missing: string | undefined;
  const text = format.replace(placeholder, (whole, key: string | undefined, flags: string, conversion: string) => {
    if (conversion === '%') return '%';
    if (key === undefined) {
      throw new FerryError('FERRY_USAGE', `Output format '${format}' uses '${whole}' without a key.`, {
        hint: 'Name the field, as in -o "%(item_url)s %(sha256)s".',
      });
    }
    const value = values.get(key);
    if (value === undefined) {
      missing ??= key;
      return '';
    }
    const shown = conversion === 'r' || conversion === 'a' ? pythonStringRepr(value) : value;
    const width = Number.parseInt(flags.replace(/[-#0 +]/g, ''), 10);
    if (Number.isNaN(width)) return shown;
    return flags.includes('-') ? shown.padEnd(width) : shown.padStart(width);
  });
  return missing === undefined ? text : { missing };
}

/** Python's len() of a str: code points (what pprint measures), not UTF-16 units nor graphemes. */
function pythonLength(text: string): number {
  let length = 0;
  for (let index = 0; index < text.length; index += 1) {
    const unit = text.charCodeAt(index);
    // A high surrogate followed by a low one is one code point.
    if (unit >= 0xd800 && unit <= 0xdbff && (text.charCodeAt(index + 1) & 0xfc00) === 0xdc00) index += 1;
    length += 1;
  }
  return length;
}

const PPRINT_WIDTH = 80;

/**
 * What Python's `pprint.pprint(item)` prints for a dict of strings, as sstream-query's `--pretty`
 * prints each item (pprint's defaults: width 80, indent 1, keys sorted): the dict on one line
 * when it fits, else one `key: value` per line, a long value with spaces wrapped into adjacent
 * string literals at word ends (pprint's _pprint_str). Without the final newline.
 */
export function pythonPrettyDict(entries: Iterable<[string, string]>): string {
  const sorted = [...entries].sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
  const oneLine = pythonDictRepr(sorted);
  if (pythonLength(oneLine) <= PPRINT_WIDTH) return oneLine;
  const lines = sorted.map(([key, value]) => {
    const keyRepr = pythonStringRepr(key);
    // The '{' or the space before each key is one column; each value leaves one for the ',' or '}'.
    const indent = 1 + pythonLength(keyRepr) + 2;
    const allowance = 1;
    return `${keyRepr}: ${pythonPrettyString(value, indent, allowance)}`;
  });
  return `{${lines.join(',\n ')}}`;
}

/** pprint's _pprint_str below the top level: the repr, or word-wrapped literals one per line at `indent`. */
function pythonPrettyString(value: string, indent: number, allowance: number): string {
  const whole = pythonStringRepr(value);
  if (value === '' || pythonLength(whole) <= PPRINT_WIDTH - indent - allowance) return whole;
  const chunks: string[] = [];
  const lines = value.match(/[^\n\r]*(?:\r\n|\n|\r|$)/g)?.filter((line) => line !== '') ?? [value];
  lines.forEach((line, lineIndex) => {
    const lastLine = lineIndex === lines.length - 1;
    const lineWidth = PPRINT_WIDTH - indent - (lastLine ? allowance : 0);
    const lineRepr = pythonStringRepr(line);
    if (pythonLength(lineRepr) <= lineWidth) {
      chunks.push(lineRepr);
      return;
    }
    const parts = line.match(/\S*\s*/g)?.filter((part) => part !== '') ?? [line];
    let current = '';
    parts.forEach((part, partIndex) => {
      const candidate = current + part;
      const width = PPRINT_WIDTH - indent - (lastLine && partIndex === parts.length - 1 ? allowance : 0);
      if (pythonLength(pythonStringRepr(candidate)) > width) {
        if (current !== '') chunks.push(pythonStringRepr(current));
        current = part;
      } else {
        current = candidate;
      }
    });
    if (current !== '') chunks.push(pythonStringRepr(current));
  });
  if (chunks.length === 1) return whole;
  return chunks.join(`\n${' '.repeat(indent)}`);
}
