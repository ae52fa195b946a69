import { describe, expect, it } from 'vitest';
import { displayWidth, safeText } from '../../../src-main/media/index.js';
import { formatDriveTable } from '../../../src-main/cli/commands/drives.js';
import { detectDrives } from '../../../src-main/media/index.js';
import { linuxRunner } from '../../support/recorded-commands.js';

describe('safeText: labels cannot spoof the drive list', () => {
  it('escapes a right-to-left override, so "exe.gpj" cannot show as "jpg.exe"', () => {
    expect(safeText('\u202eexe.gpj')).toBe('\\u{202e}exe.gpj');
    expect(safeText('a\u2066b\u2069\u200f\u061c', 40)).toBe('a\\u{2066}b\\u{2069}\\u{200f}\\u{61c}');
  });

  it('escapes newlines, terminal escape sequences and zero-width characters', () => {
    expect(safeText('TWO\nLINES')).toBe('TWO\\nLINES');
    expect(safeText('US\u200bB\u001b[2J\u00a0\u2028')).toBe('US\\u{200b}B\\x1b[2J\u00a0\\u{2028}');
    expect(safeText('\ufeffX\u{e0041}')).toBe('\\u{feff}X\\u{e0041}');
  });

  it('escapes backslashes so an escape in a label cannot pass for one of ours', () => {
    expect(safeText('a\\nb')).toBe('a\\\\nb');
  });

  it('cuts a long label to the width asked, ending with a visible marker', () => {
    const shown = safeText(`FERRY-${'x'.repeat(194)}`, 22);
    expect(shown).toBe(`FERRY-${'x'.repeat(15)}…`);
    expect(displayWidth(shown)).toBe(22);
    expect(safeText('exactly ten', 11)).toBe('exactly ten');
  });

  it('keeps emoji and accented letters, counting emoji as two columns', () => {
    expect(safeText('🚀 ferry 😀')).toBe('🚀 ferry 😀');
    expect(displayWidth('🚀 ferry 😀')).toBe(11);
    expect(safeText('😀😀😀😀', 7)).toBe('😀😀😀…');
    expect(safeText('ÉXFAT ☃')).toBe('ÉXFAT ☃');
  });

  it('bounds a pile of combining marks', () => {
    expect(safeText(`Z${'\u0301'.repeat(500)}`, 10).length).toBe(10);
  });
});

describe('the ferry drives table', () => {
  it('fits 80 columns and shows odd labels escaped and cut', async () => {
    const drives = await detectDrives({ platform: 'linux', run: linuxRunner('odd-labels.lsblk.json').run });
    const table = formatDriveTable(drives);
    const lines = table.trimEnd().split('\n');
    for (const line of lines) expect(displayWidth(line), line).toBeLessThanOrEqual(80);
    expect(lines[0]).toBe('DEVICE              SIZE MODEL / LABEL          FS      MOUNTED AT          FREE');
    expect(table).toContain('/dev/nvme0n1     477 GiB Samsung SSD 980 PRO 5… SYSTEM: holds /boot/efi, holds …');
    expect(table).toContain('/dev/sdj        57.8 GiB Verbatim STORE N GO    usb, removable\n');
    expect(table).toContain('"\\u{202e}exe.gpj"');
    expect(table).toContain('"TWO\\nLINES"');
    expect(table).toContain('/media/op/TWO…   954 MiB');
    expect(table).toContain('└ sdj5           1.0 GiB "US\\u{200b}B\\x1b[2J"   exfat\n');
    expect(table).toContain('"FERRY-xxxxxxxxxxxxxx…');
    expect(table).toContain('"🚀 ferry 😀"');
    expect(Array.from(table).filter((character) => (character < ' ' && character !== '\n') || character === '\u202e' || character === '\u200b')).toEqual([]);
  });

  it('says when a drive has no medium or is write-protected', async () => {
    const reader = await detectDrives({ platform: 'linux', run: linuxRunner('empty-card-reader.lsblk.json').run });
    expect(formatDriveTable(reader)).toContain('usb, removable, no medium');
    const card = await detectDrives({ platform: 'linux', run: linuxRunner('write-protected-sd.lsblk.json').run });
    expect(formatDriveTable(card)).toContain('usb, removable, READ-ONLY');
  });
});
