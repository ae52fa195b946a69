import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommandResult, CommandRunner } from '../../src-main/media/index.js';
import { repoRoot } from './run-ferry.js';

// Feeds recorded tool outputs (test/fixtures/drives/) through the real detector: each command line
// (`lsblk --json ...`, `diskutil info -plist disk4`) maps to a fixture file; anything else is an
// unexpected call and fails the test.

export const DRIVE_FIXTURES = join(repoRoot, 'test', 'fixtures', 'drives');

export interface RecordedCall {
  file: string;
  args: readonly string[];
}

/**
 * A runner answering `match(file, args)` with the fixture it names (relative to DRIVE_FIXTURES) or
 * a literal result; `calls` records every command line run.
 */
export function recordedRunner(
  match: (file: string, args: readonly string[]) => string | CommandResult | undefined,
): { run: CommandRunner; calls: RecordedCall[] } {
  const calls: RecordedCall[] = [];
  const run: CommandRunner = async (file, args) => {
    calls.push({ file, args });
    const answer = match(file, args);
    if (answer === undefined) throw new Error(`unexpected command in a recorded test: ${file} ${args.join(' ')}`);
    if (typeof answer !== 'string') return answer;
    return { stdout: await readFile(join(DRIVE_FIXTURES, answer), 'utf8'), stderr: '', exitCode: 0 };
  };
  return { run, calls };
}

/** A Linux runner: lsblk answers with `lsblkFixture`; blkid finds nothing (exit 2), as on a system with udev data. */
export function linuxRunner(lsblkFixture: string, blkid: Readonly<Record<string, string>> = {}): { run: CommandRunner; calls: RecordedCall[] } {
  return recordedRunner((file, args) => {
    if (file === 'lsblk') return `linux/${lsblkFixture}`;
    if (file === 'blkid') {
      const fixture = blkid[args[args.length - 1] ?? ''];
      return fixture === undefined ? { stdout: '', stderr: '', exitCode: 2 } : `linux/${fixture}`;
    }
    return undefined;
  });
}
