import { describe, expect, it } from 'vitest';
import { formatCommandHelp, parseCommandLine } from '../../../src-main/cli/command.js';
import { commands as entries, loadCommands } from '../../../src-main/cli/commands/index.js';
import { FerryError } from '../../../src-main/base/errors.js';

const commands = await loadCommands();

describe('command definitions', () => {
  it('lists each command under the name and summary its definition gives (the lazy table repeats them)', () => {
    expect(entries.map(({ name, summary }) => ({ name, summary }))).toEqual(commands.map(({ name, summary }) => ({ name, summary })));
  });

  it.each(commands.map((command) => [command.name, command] as const))('%s documents every option it accepts', (_name, command) => {
    const help = formatCommandHelp(command);
    for (const option of command.options) {
      expect(help).toContain(`--${option.name}`);
      expect(help).toContain(option.description);
      if (option.short !== undefined) expect(help).toContain(`-${option.short}, --${option.name}`);
      // The help prints "(default X)" itself: a description saying it too says it twice.
      if (option.default !== undefined) expect(option.description, `--${option.name}`).not.toMatch(/\(default\)/);
    }
  });

  it('ferry export shows every way the --tree form is used: several --to, --volume-size', () => {
    const exportCommand = commands.find((command) => command.name === 'export');
    if (exportCommand === undefined) throw new Error('the export command is missing');
    const usage = formatCommandHelp(exportCommand).split('\n').find((line) => line.includes('--tree DIR'));
    expect(usage).toContain('--to PATH [--to PATH...] --tree DIR');
    expect(usage).toContain('[--volume-size SIZE]');
  });

  it('has unique command and option names', () => {
    const names = commands.map((command) => command.name);
    expect(new Set(names).size).toBe(names.length);
    for (const command of commands) {
      const options = command.options.map((option) => option.name);
      expect(new Set(options).size, command.name).toBe(options.length);
    }
  });
});

describe('parseCommandLine', () => {
  const mirror = commands.find((command) => command.name === 'mirror');
  if (mirror === undefined) throw new Error('the mirror command is missing');

  it('keeps --or and filters as positionals and reads every option form', () => {
    const parsed = parseCommandLine(mirror, ['--max=2', '-vv', '--keyring', 'a.gpg', '--keyring', 'b.gpg', 'src', 'dst', 'arch=amd64', '--or', 'os~grub', '--dry-run']);
    expect(parsed.options).toEqual({ max: 2, verbose: 2, keyring: ['a.gpg', 'b.gpg'], 'dry-run': true });
    expect(parsed.positionals).toEqual(['src', 'dst', 'arch=amd64', '--or', 'os~grub']);
  });

  it('accepts sstream-mirror spellings: -U for --no-verify, --mirror repeated', () => {
    const parsed = parseCommandLine(mirror, ['-U', '--mirror', 'http://a/', '--mirror=http://b/', 'src', 'dst']);
    expect(parsed.options).toEqual({ 'no-verify': true, mirror: ['http://a/', 'http://b/'] });
  });

  it('treats everything after -- as positionals', () => {
    expect(parseCommandLine(mirror, ['--', '--max', 'x']).positionals).toEqual(['--max', 'x']);
  });

  it.each([
    [['--max', 'two'], "--max takes a whole number, 0 or more, not 'two'"],
    // Issue 11 §2: bounds are refused when parsed, not after a job started.
    [['--concurrency', '0'], "--concurrency takes a whole number, 1 or more, not '0'."],
    [['--connections=0'], "--connections takes a whole number, 1 or more, not '0'."],
    [['--retries', '-1'], "--retries takes a whole number, 0 or more, not '-1'."],
    [['--stall-timeout', '0'], "--stall-timeout takes a whole number, 1 or more, not '0'."],
    [['--stall-timeout', '1.5'], "--stall-timeout takes a whole number, 1 or more, not '1.5'."],
    // Typos get the nearest option; sstream's options ferry refuses say what to use instead.
    [['--concurency', '2'], "Unknown option '--concurency'. Did you mean --concurrency?"],
    [['--dryrun'], "Unknown option '--dryrun'. Did you mean --dry-run?"],
    [['--log-file', 'x.log'], '--log-file is not supported by ferry: ferry logs to stderr; use the shell instead'],
    [['--no-checksumming-reader'], '--no-checksumming-reader is not supported by ferry: every file is checked'],
    [['--max'], '--max needs a value'],
    [['--dry-run=yes'], '--dry-run takes no value'],
    [['--nope'], "Unknown option '--nope'"],
    [['-Q'], "Unknown option '-Q'"],
  ])('refuses %j with a usage error', (argv, message) => {
    let caught: unknown;
    try {
      parseCommandLine(mirror, argv);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(FerryError);
    expect((caught as FerryError).code).toBe('FERRY_USAGE');
    expect((caught as FerryError).message).toContain(message);
    expect((caught as FerryError).hint).toBe('For help, run: ferry help mirror');
  });
});
