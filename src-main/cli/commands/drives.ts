import { displayWidth, listDrives, safeText, type Drive, type DriveListing, type Volume } from '../../engine/index.js';
import { flagOption, type CommandDefinition } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes } from '../../base/format.js';

export const drivesCommand: CommandDefinition = {
  name: 'drives',
  summary: 'List the drives an export can go to, with their file systems and free space',
  usage: ['[--json] [--show-system]'],
  description: [
    'One line per drive (device, size, model, bus and state), then one per file system on it',
    '(label, type, where it is mounted, free space). Drives holding the running system (/, /boot,',
    '/usr, /var, /home, swap, or the boot disk) and virtual devices (loop, zram) are hidden unless',
    '--show-system is given. Labels and models are printed with control, invisible and',
    'right-to-left characters escaped (\\n, \\u{202e}) and long ones cut with "…".',
  ],
  options: [
    { name: 'json', type: 'boolean', description: 'print one JSON document (exact labels, \\u-escaped) instead of the table' },
    { name: 'show-system', type: 'boolean', description: 'list system and virtual drives too, marked SYSTEM or virtual' },
  ],
  examples: ['ferry drives', 'ferry drives --show-system --json'],
  async run(options, _positionals, io) {
    const listing = await listDrives({ showSystem: flagOption(options, 'show-system') });
    if (flagOption(options, 'json')) {
      io.stdout.write(`${jsonForTerminal(listing)}\n`);
      return ExitCode.ok;
    }
    io.stdout.write(formatDriveTable(listing.drives));
    if (listing.drives.length === 0) io.stderr.write('No drives to show.\n');
    if (listing.hidden.length > 0) {
      const why = listing.hidden.map((drive) => `${safeText(drive.device, 40)}: ${drive.reasons.join(', ')}`).join('; ');
      io.stderr.write(`${listing.hidden.length} drive(s) hidden (${why}); --show-system lists them.\n`);
    }
    return ExitCode.ok;
  },
};

/**
 * JSON with every character a terminal could be tricked by (controls, bidi and zero-width marks,
 * separators, everything beyond ASCII) written as \u escapes: still the exact label for a program.
 */
function jsonForTerminal(value: DriveListing): string {
  return JSON.stringify(value, null, 2).replace(/[^\x20-\x7e\n]/g, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Column widths: 14+9+22+7+15+8 plus five separating spaces is 80, a classic terminal line. */
const COLUMNS = [
  { title: 'DEVICE', width: 14, right: false },
  { title: 'SIZE', width: 9, right: true },
  { title: 'MODEL / LABEL', width: 22, right: false },
  { title: 'FS', width: 7, right: false },
  { title: 'MOUNTED AT', width: 15, right: false },
  { title: 'FREE', width: 8, right: true },
] as const;

function cell(text: string, column: number): string {
  const spec = COLUMNS[column];
  if (spec === undefined) return text;
  const shown = safeText(text, spec.width);
  const padding = ' '.repeat(Math.max(0, spec.width - displayWidth(shown)));
  return spec.right ? `${padding}${shown}` : `${shown}${padding}`;
}

function line(cells: readonly string[]): string {
  return `${cells.map((text, column) => cell(text, column)).join(' ').trimEnd()}\n`;
}

function driveNotes(drive: Drive): string {
  const notes = [
    ...(drive.systemReasons.length > 0 ? [`SYSTEM: ${drive.systemReasons.join(', ')}`] : []),
    ...(drive.virtual ? ['virtual'] : []),
    ...(drive.bus === null ? [] : [drive.bus]),
    ...(drive.removable ? ['removable'] : []),
    ...(drive.readOnly ? ['READ-ONLY'] : []),
    ...(drive.hasMedia ? [] : ['no medium']),
  ];
  return notes.join(', ');
}

function volumeName(volume: Volume): string {
  return volume.kind === 'whole-device' ? '└ (whole)' : `└ ${volume.device.replace(/^\/dev\/(mapper\/)?/, '')}`;
}

/**
 * The drive table, at most 80 columns wide: a line per drive (device, size, model, then its notes
 * spanning the last columns) and a line per volume under it. Every cell from a device goes
 * through safeText.
 */
export function formatDriveTable(drives: readonly Drive[]): string {
  if (drives.length === 0) return '';
  let text = line(COLUMNS.map((column) => column.title));
  for (const drive of drives) {
    // The notes take the place of the last three columns, which only volumes fill.
    const notesWidth = COLUMNS[3].width + COLUMNS[4].width + COLUMNS[5].width + 2;
    const head = [drive.device, formatBytes(drive.sizeBytes), drive.model ?? '(no model)'].map((text, column) => cell(text, column));
    text += `${[...head, safeText(driveNotes(drive), notesWidth)].join(' ').trimEnd()}\n`;
    for (const volume of drive.volumes) {
      text += line([
        volumeName(volume),
        volume.sizeBytes === null ? '' : formatBytes(volume.sizeBytes),
        volume.label === null ? '' : `"${volume.label}"`,
        volume.fsType ?? '?',
        volume.mountPoints.join(', '),
        volume.freeBytes === null ? '' : formatBytes(volume.freeBytes),
      ]);
    }
  }
  return text;
}
