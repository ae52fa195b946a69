// What each target file system can hold, for the export verdict: which files it refuses (each
// named with the rule) and which must be split into parts. Pure. The table is proven on real file
// systems in test/integration/media/fs-rules-real.test.ts: for every rule marked `filesystem` the
// Linux driver refuses such a name; rules marked `windows` are ones the Linux driver writes but
// Windows cannot open, list or copy (so they are refused here all the same).
import { FerryError } from '../base/errors.js';

export type FilesystemKind = 'fat32' | 'exfat' | 'ntfs' | 'ext4';

export type RuleId =
  | 'forbidden-character'
  | 'control-character'
  | 'reserved-name'
  | 'reserved-name-extended'
  | 'trailing-dot-or-space'
  | 'name-length'
  | 'path-length';

/** Who refuses a name that breaks a rule: the file system driver itself, or only Windows. */
export type Enforcement = 'filesystem' | 'windows';

export interface FilesystemRules {
  kind: FilesystemKind;
  /** Largest file in bytes, or null when no export comes near the limit. */
  maxFileBytes: number | null;
  /** Longest name (one path component), counted in `nameUnit`s. */
  maxNameLength: number;
  nameUnit: 'utf16' | 'bytes';
  /** Longest relative path, counted in `nameUnit`s (see pathLengthNote). */
  maxPathLength: number;
  /** The rules this file system has, and who enforces each (a rule not listed does not apply). */
  rules: Partial<Record<RuleId, Enforcement>>;
}

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

/** The Win32 namespace's forbidden characters (Microsoft, "Naming Files, Paths, and Namespaces"). */
export const WINDOWS_FORBIDDEN_CHARACTERS = '"*/:<>?\\|';

// Reserved device names, with or without an extension, in any case. The classic set is what
// ntfs-3g -o windows_names refuses; Microsoft's list also has COM0, LPT0 and the superscript
// digits, which ntfs-3g (measured: 2022.10.3) lets through.
const RESERVED = /^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])$/i;
const RESERVED_EXTENDED = /^(COM[0¹²³]|LPT[0¹²³])$/i;

/**
 * Windows' MAX_PATH is 260 UTF-16 units including `X:\` and the terminating NUL, so a path
 * relative to the drive's root may have 256; programs without long-path support (Explorer, many
 * copy tools) fail past it. Linux refuses paths over PATH_MAX (4096 bytes including the NUL).
 */
const WINDOWS_PATH_UNITS = 256;
const LINUX_PATH_BYTES = 4095;

const WINDOWS_NAME_RULES: Partial<Record<RuleId, Enforcement>> = {
  'forbidden-character': 'filesystem',
  'control-character': 'filesystem',
  'name-length': 'filesystem',
  'path-length': 'windows',
  'reserved-name-extended': 'windows',
};

/**
 * The rules of each file system. Measured on Debian's drivers (fusefat 1.0.0, exfat-fuse 1.3.0,
 * ntfs-3g with windows_names): all three refuse `"*:<>?\|` and U+0001–U+001F; fusefat and
 * exfat-fuse store reserved names and trailing dots or spaces, which Windows then cannot open;
 * ntfs-3g with windows_names refuses them. FAT32 keeps a file's size in 32 bits, so 4 GiB - 1 is
 * the largest file (Microsoft's FAT specification).
 */
export const FILESYSTEM_RULES: Readonly<Record<FilesystemKind, FilesystemRules>> = {
  fat32: {
    kind: 'fat32',
    maxFileBytes: 4 * GIB - 1,
    maxNameLength: 255,
    nameUnit: 'utf16',
    maxPathLength: WINDOWS_PATH_UNITS,
    rules: { ...WINDOWS_NAME_RULES, 'reserved-name': 'windows', 'trailing-dot-or-space': 'windows' },
  },
  exfat: {
    kind: 'exfat',
    maxFileBytes: null,
    maxNameLength: 255,
    nameUnit: 'utf16',
    maxPathLength: WINDOWS_PATH_UNITS,
    rules: { ...WINDOWS_NAME_RULES, 'reserved-name': 'windows', 'trailing-dot-or-space': 'windows' },
  },
  ntfs: {
    kind: 'ntfs',
    maxFileBytes: null,
    maxNameLength: 255,
    nameUnit: 'utf16',
    maxPathLength: WINDOWS_PATH_UNITS,
    rules: { ...WINDOWS_NAME_RULES, 'reserved-name': 'filesystem', 'trailing-dot-or-space': 'filesystem' },
  },
  ext4: {
    kind: 'ext4',
    maxFileBytes: null,
    maxNameLength: 255,
    nameUnit: 'bytes',
    maxPathLength: LINUX_PATH_BYTES,
    rules: { 'name-length': 'filesystem', 'path-length': 'filesystem' },
  },
};

/**
 * The rules for a file system type as the drive tools name it (lsblk/blkid `vfat`, diskutil
 * `msdos`, Windows `FAT32`/`FAT`; `ext2`/`ext3` share ext4's name rules), or null when unknown.
 */
export function filesystemKind(fsType: string | null): FilesystemKind | null {
  switch (fsType?.toLowerCase()) {
    case 'vfat':
    case 'msdos':
    case 'fat':
    case 'fat32':
    case 'fat16':
      return 'fat32';
    case 'exfat':
      return 'exfat';
    case 'ntfs':
    case 'ntfs3':
      return 'ntfs';
    case 'ext2':
    case 'ext3':
    case 'ext4':
      return 'ext4';
    default:
      return null;
  }
}

export interface PlannedFile {
  /** Relative path with '/' separators, as it will be written under the target's root. */
  path: string;
  /** Bytes. */
  size: number;
}

export interface FilesystemProblem {
  path: string;
  rule: RuleId;
  enforcedBy: Enforcement;
  /** One sentence naming what is wrong, for the verdict. */
  message: string;
}

export interface FileSplit {
  path: string;
  size: number;
  partSize: number;
  parts: number;
}

export interface FilesystemVerdict {
  problems: FilesystemProblem[];
  splits: FileSplit[];
}

function lengthIn(text: string, unit: 'utf16' | 'bytes'): number {
  return unit === 'utf16' ? text.length : Buffer.byteLength(text, 'utf8');
}

function hasControlCharacter(name: string): boolean {
  return Array.from(name).some((character) => {
    const codePoint = character.codePointAt(0) ?? 0;
    return codePoint >= 0x01 && codePoint <= 0x1f;
  });
}

function nameProblems(name: string, rules: FilesystemRules): { rule: RuleId; message: string }[] {
  const found: { rule: RuleId; message: string }[] = [];
  const has = (rule: RuleId): boolean => rules.rules[rule] !== undefined;
  const forbidden = [...new Set(Array.from(WINDOWS_FORBIDDEN_CHARACTERS).filter((character) => name.includes(character)))];
  if (has('forbidden-character') && forbidden.length > 0) {
    found.push({ rule: 'forbidden-character', message: `the name '${name}' holds ${forbidden.map((c) => `'${c}'`).join(', ')}, which ${rules.kind} cannot store` });
  }
  if (has('control-character') && hasControlCharacter(name)) {
    found.push({ rule: 'control-character', message: `a name holds a control character (U+0001–U+001F), which ${rules.kind} cannot store` });
  }
  const base = name.split('.')[0] ?? '';
  if (has('reserved-name') && RESERVED.test(base)) {
    found.push({ rule: 'reserved-name', message: `'${name}' is a reserved device name on Windows (${base.toUpperCase()}), with any extension` });
  }
  if (has('reserved-name-extended') && RESERVED_EXTENDED.test(base)) {
    found.push({ rule: 'reserved-name-extended', message: `'${name}' is on Microsoft's list of reserved device names (${base.toUpperCase()})` });
  }
  if (has('trailing-dot-or-space') && /[. ]$/.test(name)) {
    found.push({ rule: 'trailing-dot-or-space', message: `'${name}' ends with a dot or a space, which Windows strips` });
  }
  const length = lengthIn(name, rules.nameUnit);
  if (has('name-length') && length > rules.maxNameLength) {
    const unit = rules.nameUnit === 'utf16' ? 'UTF-16 units' : 'bytes';
    found.push({ rule: 'name-length', message: `a name is ${length} ${unit} long; ${rules.kind} allows ${rules.maxNameLength}` });
  }
  return found;
}

/** The part size used when none is asked for: the largest whole MiB the file system can hold in one file. */
export function defaultPartSize(kind: FilesystemKind): number | null {
  const limit = FILESYSTEM_RULES[kind].maxFileBytes;
  return limit === null ? null : Math.floor(limit / MIB) * MIB;
}

/**
 * Judges files planned for a target file system: each problem names the path, the rule and who
 * enforces it (see FILESYSTEM_RULES); each file larger than `partSize`, or without one larger than
 * the file system's largest file (FAT32 only), is listed as a split into ceil(size / partSize)
 * parts, every part `partSize` bytes except the last (default part size: the largest file rounded
 * down to whole MiB).
 * Throws FERRY_SETTING_INVALID (setting `partSize`) when `partSize` is not a positive whole number or exceeds the file system's
 * largest file.
 */
export function checkFilesForFilesystem(
  files: readonly PlannedFile[],
  kind: FilesystemKind,
  options: { partSize?: number } = {},
): FilesystemVerdict {
  const rules = FILESYSTEM_RULES[kind];
  const partSize = options.partSize ?? defaultPartSize(kind);
  if (partSize !== null && (!Number.isSafeInteger(partSize) || partSize <= 0 || (rules.maxFileBytes !== null && partSize > rules.maxFileBytes))) {
    throw new FerryError('FERRY_SETTING_INVALID', `A part size of ${partSize} bytes cannot be used on ${kind}.`, {
      setting: 'partSize',
      expected: rules.maxFileBytes === null ? 'a positive whole number of bytes' : `1 to ${rules.maxFileBytes} bytes`,
      actual: String(partSize),
    });
  }
  // Without a part size asked for, a file that fits the file system stays whole (4 GiB - 1 on FAT32).
  const splitAbove = options.partSize ?? rules.maxFileBytes ?? Infinity;
  const problems: FilesystemProblem[] = [];
  const splits: FileSplit[] = [];
  for (const file of files) {
    const add = (rule: RuleId, message: string): void => {
      problems.push({ path: file.path, rule, enforcedBy: rules.rules[rule] ?? 'filesystem', message });
    };
    for (const name of file.path.split('/')) {
      for (const problem of nameProblems(name, rules)) add(problem.rule, problem.message);
    }
    const pathLength = lengthIn(file.path, rules.nameUnit);
    if (pathLength > rules.maxPathLength) {
      add('path-length', `the path is ${pathLength} ${rules.nameUnit === 'utf16' ? 'UTF-16 units' : 'bytes'} long; ${rules.kind} targets allow ${rules.maxPathLength}`);
    }
    if (partSize !== null && file.size > splitAbove) {
      splits.push({ path: file.path, size: file.size, partSize, parts: Math.ceil(file.size / partSize) });
    }
  }
  return { problems, splits };
}
