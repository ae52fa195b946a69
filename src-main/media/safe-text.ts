// Drive labels and model strings are chosen by whoever formatted the stick or built the device.
// Shown raw, a right-to-left override, a newline or an escape sequence could make one drive look
// like another in the list (Raspberry Pi Imager sanitises them for this reason). Pure.

/** Characters shown as escapes: controls, format characters (bidi marks and overrides, zero-width
 *  characters, BOM, tag characters), line/paragraph separators, private use, lone surrogates, unassigned. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}\p{Cn}]/u;

const NAMED_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

function escapeCodePoint(character: string): string {
  const named = NAMED_ESCAPES[character];
  if (named !== undefined) return named;
  const codePoint = character.codePointAt(0) ?? 0;
  return codePoint < 0x100 ? `\\x${codePoint.toString(16).padStart(2, '0')}` : `\\u{${codePoint.toString(16)}}`;
}

/** The marker that ends a shortened text. */
export const TRUNCATION_MARKER = '…';

/**
 * `raw` made safe to print in one line of a list: backslash, controls and invisible or
 * direction-changing characters become visible escapes (`\n`, `\x1b`, `\u{202e}`), and a text
 * wider than `maxColumns` terminal columns is cut and ends with `…`. Printable text, emoji
 * included, is kept. Combining marks count one column each here (not zero) so a pile of them
 * cannot grow without bound.
 */
export function safeText(raw: string, maxColumns = 32): string {
  const pieces = Array.from(raw, (character) => {
    const escaped = UNSAFE.test(character) || character === '\\' ? escapeCodePoint(character) : character;
    return { text: escaped, width: escaped === character ? Math.max(1, charWidth(character)) : escaped.length };
  });
  const total = pieces.reduce((sum, piece) => sum + piece.width, 0);
  if (total <= maxColumns) return pieces.map((piece) => piece.text).join('');
  let shown = '';
  let columns = 0;
  for (const piece of pieces) {
    if (columns + piece.width > maxColumns - 1) break;
    shown += piece.text;
    columns += piece.width;
  }
  return `${shown}${TRUNCATION_MARKER}`;
}

function charWidth(character: string): number {
  const codePoint = character.codePointAt(0) ?? 0;
  if (/\p{Mn}|\p{Me}/u.test(character) || codePoint === 0x200d) return 0;
  if (
    /\p{Extended_Pictographic}/u.test(character) && codePoint >= 0x1f000 ||
    (codePoint >= 0x1100 && codePoint <= 0x115f) ||
    (codePoint >= 0x2e80 && codePoint <= 0xa4cf) ||
    (codePoint >= 0xac00 && codePoint <= 0xd7a3) ||
    (codePoint >= 0xf900 && codePoint <= 0xfaff) ||
    (codePoint >= 0xfe30 && codePoint <= 0xfe4f) ||
    (codePoint >= 0xff00 && codePoint <= 0xff60) ||
    (codePoint >= 0xffe0 && codePoint <= 0xffe6) ||
    (codePoint >= 0x20000 && codePoint <= 0x3fffd)
  ) {
    return 2;
  }
  return 1;
}

/** Terminal columns `text` takes (East Asian wide characters and emoji 2, combining marks 0). */
export function displayWidth(text: string): number {
  let width = 0;
  for (const character of text) width += charWidth(character);
  return width;
}
