// A tiny VT100 interpreter for the live display's tests: it plays the bytes a program wrote to a
// pseudo-terminal onto a grid and returns the screen a person would see at the end. It knows what
// log-update and our notes use (printing with autowrap, CR, LF, cursor up/down/column, erase in
// line and below); other CSI sequences are skipped. The grid grows downward without a height
// limit (scrollback included), and lines do not reflow, as in xterm.

export interface Screen {
  /** Every row, trailing spaces removed. */
  lines: string[];
}

const ESCAPE = '\u001b';

/** The CSI sequence (ESC [ parameters final) starting at `index`, if one does. */
function controlSequenceAt(bytes: string, index: number): { parameters: string; final: string; length: number } | undefined {
  if (bytes.charAt(index) !== ESCAPE || bytes.charAt(index + 1) !== '[') return undefined;
  let end = index + 2;
  while (end < bytes.length && /[?0-9;]/.test(bytes.charAt(end))) end += 1;
  const final = bytes.charAt(end);
  if (!/[A-Za-z]/.test(final)) return undefined;
  return { parameters: bytes.slice(index + 2, end), final, length: end + 1 - index };
}

/** The runs of printable text between line ends and control sequences, in order: each frame line as written. */
export function writtenLines(bytes: string): string[] {
  const lines: string[] = [];
  let current = '';
  for (let index = 0; index < bytes.length; index += 1) {
    const csi = controlSequenceAt(bytes, index);
    const character = bytes.charAt(index);
    if (csi !== undefined || character === '\r' || character === '\n') {
      if (current !== '') lines.push(current);
      current = '';
      if (csi !== undefined) index += csi.length - 1;
    } else {
      current += character;
    }
  }
  if (current !== '') lines.push(current);
  return lines;
}

export function playTerminal(bytes: string, columns: number): Screen {
  const rows: string[][] = [[]];
  let row = 0;
  let column = 0;
  let pendingWrap = false;
  const rowAt = (index: number): string[] => {
    while (rows.length <= index) rows.push([]);
    return rows[index] ?? [];
  };
  for (let index = 0; index < bytes.length; index += 1) {
    const character = bytes.charAt(index);
    if (character === ESCAPE) {
      const csi = controlSequenceAt(bytes, index);
      if (csi !== undefined) {
        index += csi.length - 1;
        const count = Number(csi.parameters.split(';')[0] || '0');
        pendingWrap = false;
        switch (csi.final) {
          case 'A':
            row = Math.max(0, row - Math.max(1, count));
            break;
          case 'B':
            row += Math.max(1, count);
            break;
          case 'C':
            column = Math.min(columns - 1, column + Math.max(1, count));
            break;
          case 'D':
            column = Math.max(0, column - Math.max(1, count));
            break;
          case 'G':
            column = Math.max(0, Math.max(1, count) - 1);
            break;
          case 'K': {
            const line = rowAt(row);
            if (count === 2) line.length = 0;
            else if (count === 0) line.length = Math.min(line.length, column);
            break;
          }
          case 'J':
            if (count === 0) {
              rowAt(row).length = Math.min(rowAt(row).length, column);
              rows.length = row + 1;
            }
            break;
          default:
            break;
        }
      }
      continue;
    }
    if (character === '\r') {
      column = 0;
      pendingWrap = false;
      continue;
    }
    if (character === '\n') {
      row += 1;
      pendingWrap = false;
      rowAt(row);
      continue;
    }
    if (character < ' ') continue;
    if (pendingWrap) {
      row += 1;
      column = 0;
      pendingWrap = false;
    }
    const line = rowAt(row);
    while (line.length < column) line.push(' ');
    line[column] = character;
    if (column === columns - 1) pendingWrap = true;
    else column += 1;
  }
  return { lines: rows.map((cells) => cells.join('').trimEnd()) };
}
