// Start-up: this file and what it imports statically (base/errors, engine/install, the command
// table, the output helpers) load no engine, openpgp, SQLite or undici; a command's module loads
// when it runs. `npm run bench -- --only startup` measures it.
import { FerryError, describeError, isFerryError } from '../base/errors.js';
import { productVersion } from '../engine/install.js';
import { NoteChannel, didYouMean, formatCommandHelp, parseCommandLine, usageError, type CliIo, type CommandDefinition } from './command.js';
import { ExitCode, exitCodeFor, exitCodeHelp } from './exit-codes.js';
import { commands } from './commands/index.js';
import { environmentHelp, formatError, formatErrorJson } from './output.js';

async function findCommand(name: string): Promise<CommandDefinition | undefined> {
  return commands.find((command) => command.name === name)?.load();
}

function unknownCommand(name: string): FerryError {
  return usageError(undefined, `Unknown command '${name}'.${didYouMean(name, commands.map((command) => command.name))}`);
}

function formatOverview(): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    'ferry: prepare verified MAAS SimpleStreams mirrors for networks without internet access',
    '',
    'Usage: ferry <command> [options] [arguments]',
    '',
    'Commands:',
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'Run `ferry help <command>` or `ferry <command> --help` for its options.',
    '',
    'Exit codes:',
    ...exitCodeHelp.map((line) => `  ${line}`),
    '',
    'Environment:',
    ...environmentHelp.map(([name, text]) => `  ${name.padEnd(19)} ${text}`),
    '',
  ].join('\n');
}

/** Signals that stop a running job, and the exit status each leaves with (128 + the signal number). */
const STOP_SIGNALS = {
  SIGINT: { exitCode: ExitCode.cancelled, cause: 'Cancelled by the operator (Ctrl-C).', again: 'press Ctrl-C again' },
  SIGTERM: { exitCode: ExitCode.terminated, cause: 'Stopped by SIGTERM.', again: 'send SIGTERM again' },
} as const;

type StopSignal = keyof typeof STOP_SIGNALS;

/**
 * SIGINT (Ctrl-C) and SIGTERM abort the running job cleanly, each named as itself; the same signal
 * a second time leaves at once with its exit status (130 or 143).
 */
function abortOnSignals(notes: NoteChannel): { signal: AbortSignal; received(): StopSignal | undefined; dispose(): void } {
  const controller = new AbortController();
  let received: StopSignal | undefined;
  const handlers = (Object.keys(STOP_SIGNALS) as StopSignal[]).map((name) => {
    const onSignal = (): void => {
      const { exitCode, cause, again } = STOP_SIGNALS[name];
      if (controller.signal.aborted) process.exit(exitCode);
      received = name;
      notes.say(`${name}: stopping after the current writes; ${again} to quit at once.`);
      controller.abort(new FerryError('FERRY_CANCELLED', cause));
    };
    process.on(name, onSignal);
    return { name, onSignal };
  });
  return {
    signal: controller.signal,
    received: () => received,
    dispose: () => {
      for (const { name, onSignal } of handlers) process.off(name, onSignal);
    },
  };
}

/**
 * When the reader of stdout goes away (`ferry query … | head -1`), the next write fails with EPIPE;
 * Node reports it as an unhandled 'error' event with a stack trace. The output was wanted only up to
 * there, so leave at once with status 0 rather than 141 (128 + SIGPIPE), so that a script under
 * `set -o pipefail` does not fail for reading only the head (docs/errors.md). Any other stdout
 * error stays fatal.
 */
function exitQuietlyOnClosedStdout(stdout: NodeJS.WriteStream): void {
  stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(ExitCode.ok);
    throw error;
  });
}

export async function main(argv: readonly string[], overrides: Partial<CliIo> = {}): Promise<number> {
  if (overrides.stdout === undefined) exitQuietlyOnClosedStdout(process.stdout);
  const notes = overrides.notes ?? new NoteChannel(overrides.stderr ?? process.stderr);
  const interrupt = overrides.signal === undefined ? abortOnSignals(notes) : undefined;
  const io: CliIo = {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    signal: interrupt?.signal ?? new AbortController().signal,
    notes,
    ...overrides,
  };
  try {
    return await dispatch(argv, io);
  } catch (error) {
    if (isFerryError(error)) {
      const stoppedBy = error.code === 'FERRY_CANCELLED' ? interrupt?.received() : undefined;
      const exitCode = stoppedBy === undefined ? exitCodeFor(error.code) : STOP_SIGNALS[stoppedBy].exitCode;
      io.stderr.write(formatError(error));
      // A script reading --json output gets the failure where it reads (stdout) as one JSON line,
      // the last one, as a result line would have been; people still read it on stderr.
      if (wantsJson(argv)) io.stdout.write(formatErrorJson(error, exitCode));
      return exitCode;
    }
    // A bug, not an operator error: keep the stack so it can be reported.
    io.stderr.write(`ferry: internal error: ${describeError(error)}\n${error instanceof Error ? (error.stack ?? '') : ''}\n`);
    if (wantsJson(argv)) io.stdout.write(formatErrorJson({ name: 'InternalError', message: describeError(error) }, ExitCode.failure));
    return ExitCode.failure;
  } finally {
    interrupt?.dispose();
  }
}

/** --json anywhere before a `--`: decided on the raw words, since a usage error happens before parsing ends. */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

async function dispatch(argv: readonly string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h') {
    io.stdout.write(formatOverview());
    return first === undefined ? ExitCode.usage : ExitCode.ok;
  }
  if (first === '--version' || first === '-V') {
    io.stdout.write(`stream-ferry ${productVersion()}\n`);
    return ExitCode.ok;
  }
  if (first === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      io.stdout.write(formatOverview());
      return ExitCode.ok;
    }
    const command = await findCommand(topic);
    if (command === undefined) throw unknownCommand(topic);
    io.stdout.write(formatCommandHelp(command));
    return ExitCode.ok;
  }
  const command = await findCommand(first);
  if (command === undefined) throw unknownCommand(first);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(formatCommandHelp(command));
    return ExitCode.ok;
  }
  const { options, positionals } = parseCommandLine(command, rest);
  return command.run(options, positionals, io);
}
