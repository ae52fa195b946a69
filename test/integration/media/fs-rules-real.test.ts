import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILESYSTEM_RULES, checkFilesForFilesystem } from '../../../src-main/media/index.js';
import { mountDisk, requireDisk, unmountDisk, type DiskKind, type MountedDisk } from '../../support/fuse-disks.js';

// The filesystem rules table (src-main/media/fs-rules.ts) against real file systems made here:
// for every name below, the table's verdict says whether the Linux driver refuses it (a rule
// enforced by the file system) or stores it (no rule, or a rule only Windows enforces), and the
// test creates the file on the real file system and compares. Needs root, loop devices and FUSE;
// where mounting is refused the tests of that file system are skipped, saying why.

const GIB = 1024 ** 3;

const NAMES = [
  'ok-name',
  'a:b',
  'q?',
  'st*r',
  'lt<',
  'gt>',
  'pipe|',
  'bs\\x',
  'quo"te',
  'ctl\u0001',
  'tab\t',
  'CON',
  'con.txt',
  'aux.tar.gz',
  'LPT9.x',
  'COM0',
  'COM\u00b9',
  'trail.',
  'trail ',
  'x'.repeat(255),
  'x'.repeat(256),
  '\u00e9'.repeat(200),
  '\u{1f600}'.repeat(127),
  '\u{1f600}'.repeat(128),
  // 306 UTF-16 units: past Windows' MAX_PATH, nothing Linux minds.
  `${['d'.repeat(50), 'e'.repeat(50), 'f'.repeat(50), 'g'.repeat(50), 'h'.repeat(50)].join('/')}/${'p'.repeat(55)}`,
];

// fusefat 1.0.0 refuses every name with a character outside ASCII (measured: EPERM), a limit of
// the tool and not of FAT32, whose long names are UTF-16; those names are proven on exFAT and NTFS.
const fusefatCannotWrite = (name: string): boolean => Array.from(name).some((character) => (character.codePointAt(0) ?? 0) > 0x7f);

let workDir: string;
const mounted = new Map<DiskKind, MountedDisk>();
const kinds: DiskKind[] = ['fat32', 'exfat', 'ntfs', 'ext4'];

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ferry-fs-rules-'));
  for (const kind of kinds) mounted.set(kind, await mountDisk[kind](workDir, kind));
});

afterAll(async () => {
  for (const disk of mounted.values()) await unmountDisk(disk);
  await rm(workDir, { recursive: true, force: true });
});

/** 'created', or the errno code the file system answered with. */
async function tryCreate(root: string, path: string): Promise<string> {
  try {
    await mkdir(dirname(join(root, path)), { recursive: true });
    const handle = await open(join(root, path), 'wx');
    await handle.close();
    await stat(join(root, path));
    return 'created';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}

describe.each(kinds)('%s: the rules table matches the real file system', (kind) => {
  it('refuses exactly the names the table says the file system refuses, and stores the rest', async (context) => {
    const root = requireDisk(mounted.get(kind) ?? { ok: false, kind, reason: 'not mounted' }, context);
    const left: string[] = [];
    const outcomes: { name: string; table: string; real: string; errno: string }[] = [];
    for (const name of NAMES) {
      if (kind === 'fat32' && fusefatCannotWrite(name)) {
        left.push(name.slice(0, 8));
        continue;
      }
      const { problems } = checkFilesForFilesystem([{ path: name, size: 0 }], kind);
      const refusedByTable = problems.some((problem) => problem.enforcedBy === 'filesystem');
      const outcome = await tryCreate(root, name);
      outcomes.push({ name: JSON.stringify(name.slice(0, 24)), table: refusedByTable ? 'refused' : 'created', real: outcome === 'created' ? 'created' : 'refused', errno: outcome });
    }
    if (left.length > 0) console.warn(`${kind}: names left to exFAT/NTFS because fusefat refuses non-ASCII names: ${left.join(', ')}`);
    expect(outcomes.filter((outcome) => outcome.table !== outcome.real)).toEqual([]);
    // The cases the issue names, as plain facts: ':' and reserved names on Windows file systems.
    const verdict = (name: string): string | undefined => outcomes.find((outcome) => outcome.name === JSON.stringify(name))?.real;
    expect(verdict('a:b')).toBe(kind === 'ext4' ? 'created' : 'refused');
    expect(verdict('CON')).toBe(kind === 'ntfs' ? 'refused' : 'created');
    // Where the driver stores a reserved name, the table still refuses it for the export (Windows cannot open it).
    expect(checkFilesForFilesystem([{ path: 'CON', size: 0 }], kind).problems.map((p) => p.rule)).toEqual(kind === 'ext4' ? [] : ['reserved-name']);
  });

  it('holds files of 4 GiB or more exactly where the table says', async (context) => {
    const root = requireDisk(mounted.get(kind) ?? { ok: false, kind, reason: 'not mounted' }, context);
    const limit = FILESYSTEM_RULES[kind].maxFileBytes;
    if (kind === 'exfat') {
      // exfat-fuse allocates and zero-fills on truncate (measured: 27 s and 2.6 GB of disk for
      // 4 GiB + 1), so the absence of a limit is not shown here; the table has none (exFAT spec).
      expect(limit).toBeNull();
      context.skip('exfat-fuse zero-fills a 4 GiB file (27 s, 2.6 GB measured): too slow and large for a test');
    }
    const handle = await open(join(root, 'big'), 'w');
    let size: number | string;
    try {
      await handle.truncate(4 * GIB);
      size = (await handle.stat()).size;
    } catch (error) {
      size = (error as NodeJS.ErrnoException).code ?? String(error);
    } finally {
      await handle.close();
    }
    if (limit === null) {
      expect(size).toBe(4 * GIB);
    } else {
      // fusefat answers a truncate to 4 GiB with success but the file stays at 0 bytes: the size
      // field is 32 bits and 2^32 wraps to 0. It returns no EFBIG, so ferry must split beforehand.
      expect(limit).toBe(4 * GIB - 1);
      expect(size).not.toBe(4 * GIB);
      expect(size).toBe(0);
    }
  });
});
