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
 * `%(key)r` and `%%`. A missing key is reported like sstream-query does, naming the key.
 */
export function pythonPercentFormat(format: string, values: ReadonlyMap<string, string>): string {
  return format.replace(placeholder, (whole, key: string | undefined, flags: string, conversion: string) => {
    if (conversion === '%') return '%';
    if (key === undefined) {
      throw new FerryError('FERRY_USAGE', `Output format '${format}' uses '${whole}' without a key.`, {
        hint: 'Name the field, as in -o "%(item_url)s %(sha256)s".',
      });
    }
    const value = values.get(key);
    if (value === undefined) {
      throw new FerryError('FERRY_USAGE', `output format failed. Missing '${key}'`, {
        hint: 'Run `ferry query --json` to see the fields each item has.',
      });
    }
    const text = conversion === 'r' || conversion === 'a' ? pythonStringRepr(value) : value;
    const width = Number.parseInt(flags.replace(/[-#0 +]/g, ''), 10);
    if (Number.isNaN(width)) return text;
    return flags.includes('-') ? text.padEnd(width) : text.padStart(width);
  });
}
