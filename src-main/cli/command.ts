import { FerryError } from '../base/errors.js';
import { nearestNames } from '../base/suggest.js';

/** Where a command writes: stdout for results (one JSON document with --json), stderr for the rest. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  /** Where a question's answer is read (an export asking for its next drive); absent: nothing is asked. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on Ctrl-C; commands pass it down to every long call. */
  signal: AbortSignal;
  /** Where lines for a person go that are not a command's output (the Ctrl-C notice). */
  notes: NoteChannel;
}

/**
 * Lines for a person on stderr, from code that does not know whether a live display is drawing
 * there (main's signal handler): while a display runs it routes them above its drawing.
 */
export class NoteChannel {
  readonly #stream: NodeJS.WritableStream;
  #route: ((line: string) => void) | undefined;

  constructor(stream: NodeJS.WritableStream) {
    this.#stream = stream;
  }

  /** Writes `line` (a newline is added), through the current route if any. */
  say(line: string): void {
    if (this.#route === undefined) this.#stream.write(`${line}\n`);
    else this.#route(line);
  }

  /** Sends lines to `writer` until the returned function is called. */
  route(writer: (line: string) => void): () => void {
    this.#route = writer;
    return () => {
      if (this.#route === writer) this.#route = undefined;
    };
  }
}

export type OptionType = 'boolean' | 'string' | 'number' | 'strings' | 'count';

export interface OptionDefinition {
  name: string;
  short?: string;
  type: OptionType;
  description: string;
  /** The value's name in help (FILE, N); `a|b` (`bundle|tree`) lists the only values taken, which completion offers. */
  valueName?: string;
  /** What the command uses when the option is absent, in the option's own unit; help prints it after the description. */
  default?: string | number;
  /** For a number: the smallest value accepted; a smaller one is refused when parsed (exit 2). */
  min?: number;
  /**
   * An option of sstream-mirror or sstream-query that ferry refuses rather than mis-reads: what to
   * use instead. Given, it is refused when parsed with "not supported by ferry: <this>".
   */
  unsupported?: string;
}

export type OptionValue = boolean | string | number | string[] | undefined;
export type ParsedOptions = Readonly<Record<string, OptionValue>>;

export interface CommandDefinition {
  name: string;
  summary: string;
  usage: string[];
  /** Longer explanation printed under the usage lines. */
  description?: string[];
  /** Words the first argument may be besides a path (SOURCE's presets, a shell's name), for completion to offer. */
  argumentWords?: readonly string[];
  options: OptionDefinition[];
  examples?: string[];
  run(options: ParsedOptions, positionals: string[], io: CliIo): Promise<number>;
}

/** Tokens passed through as positionals although they look like options (filter-group separators). */
const passThroughTokens = new Set(['--or']);

/**
 * Parses argv against a command's option table. Hand-written rather than node:util parseArgs because
 * `--or` separates filter groups as a positional and `-vv` counts.
 */
export function parseCommandLine(
  command: CommandDefinition,
  argv: readonly string[],
): { options: Record<string, OptionValue>; positionals: string[] } {
  const options: Record<string, OptionValue> = {};
  const positionals: string[] = [];
  const byName = new Map(command.options.map((option) => [option.name, option]));
  const byShort = new Map(
    command.options.filter((option) => option.short !== undefined).map((option) => [option.short, option]),
  );

  const assign = (option: OptionDefinition, raw: string | undefined): void => {
    switch (option.type) {
      case 'boolean':
        options[option.name] = true;
        return;
      case 'count': {
        const previous = options[option.name];
        options[option.name] = (typeof previous === 'number' ? previous : 0) + 1;
        return;
      }
      case 'string':
        options[option.name] = requireValue(option, raw);
        return;
      case 'strings': {
        const previous = options[option.name];
        options[option.name] = [...(Array.isArray(previous) ? previous : []), requireValue(option, raw)];
        return;
      }
      case 'number': {
        const text = requireValue(option, raw);
        const value = Number(text);
        const atLeast = option.min === undefined ? '' : `, ${option.min} or more`;
        if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < (option.min ?? 0)) {
          throw usageError(command, `--${option.name} takes a whole number${atLeast}, not '${text}'.`);
        }
        options[option.name] = value;
        return;
      }
    }
  };
  const requireValue = (option: OptionDefinition, raw: string | undefined): string => {
    if (raw === undefined) throw usageError(command, `--${option.name} needs a value (${option.valueName ?? 'VALUE'}).`);
    return raw;
  };
  const takesValue = (option: OptionDefinition): boolean =>
    option.type === 'string' || option.type === 'strings' || option.type === 'number';

  for (let index = 0; index < argv.length; index += 1) {
    const token = argv[index] ?? '';
    if (token === '--') {
      positionals.push(...argv.slice(index + 1));
      break;
    }
    if (passThroughTokens.has(token) || !token.startsWith('-') || token === '-') {
      positionals.push(token);
      continue;
    }
    if (token.startsWith('--')) {
      const equals = token.indexOf('=');
      const name = token.slice(2, equals === -1 ? undefined : equals);
      const option = byName.get(name);
      if (option === undefined) throw unknownOption(command, `--${name}`);
      refuseUnsupported(command, option);
      if (!takesValue(option)) {
        if (equals !== -1) throw usageError(command, `--${name} takes no value.`);
        assign(option, undefined);
        continue;
      }
      if (equals !== -1) {
        assign(option, token.slice(equals + 1));
      } else {
        index += 1;
        assign(option, argv[index]);
      }
      continue;
    }
    // Short options: -v, -vv, -o FORMAT, -oFORMAT.
    for (let position = 1; position < token.length; position += 1) {
      const letter = token.charAt(position);
      const option = byShort.get(letter);
      if (option === undefined) throw unknownOption(command, `-${letter}`);
      refuseUnsupported(command, option);
      if (!takesValue(option)) {
        assign(option, undefined);
        continue;
      }
      const rest = token.slice(position + 1);
      if (rest !== '') {
        assign(option, rest);
      } else {
        index += 1;
        assign(option, argv[index]);
      }
      break;
    }
  }
  return { options, positionals };
}

function refuseUnsupported(command: CommandDefinition, option: OptionDefinition): void {
  if (option.unsupported !== undefined) throw usageError(command, `--${option.name} is not supported by ferry: ${option.unsupported}`);
}

/** An option the command does not know, with the nearest of its own names when a typo explains it. */
function unknownOption(command: CommandDefinition, given: string): FerryError {
  const names = command.options.flatMap((option) => [`--${option.name}`, ...(option.short === undefined ? [] : [`-${option.short}`])]);
  return usageError(command, `Unknown option '${given}'.${didYouMean(given, names)}`);
}

/** " Did you mean X?" (or "X or Y?") when some candidate is near `given`; '' otherwise. */
export function didYouMean(given: string, candidates: Iterable<string>): string {
  const near = nearestNames(given, candidates, 2);
  return near.length === 0 ? '' : ` Did you mean ${near.join(' or ')}?`;
}

export function usageError(command: CommandDefinition | undefined, problem: string): FerryError {
  const helpHint = command === undefined ? 'For help, run: ferry --help' : `For help, run: ferry help ${command.name}`;
  return new FerryError('FERRY_USAGE', problem, { hint: helpHint });
}

/** Help text generated from the definition, so it can never drift from what the parser accepts. */
export function formatCommandHelp(command: CommandDefinition): string {
  const lines: string[] = [command.summary, '', 'Usage:'];
  for (const usage of command.usage) lines.push(`  ferry ${command.name} ${usage}`);
  if (command.description !== undefined) lines.push('', ...command.description);
  const supported = command.options.filter((option) => option.unsupported === undefined);
  const refused = command.options.filter((option) => option.unsupported !== undefined);
  if (supported.length > 0) {
    lines.push('', 'Options:');
    const labels = supported.map((option) => {
      const value = option.type === 'boolean' || option.type === 'count' ? '' : ` ${option.valueName ?? 'VALUE'}`;
      const short = option.short === undefined ? '    ' : `-${option.short}, `;
      return `${short}--${option.name}${value}`;
    });
    const width = Math.max(...labels.map((label) => label.length));
    supported.forEach((option, index) => {
      const repeat = option.type === 'strings' ? ' (repeatable)' : '';
      const fallback = option.default === undefined ? '' : ` (default ${option.default})`;
      lines.push(`  ${(labels[index] ?? '').padEnd(width)}  ${option.description}${fallback}${repeat}`);
    });
  }
  if (refused.length > 0) {
    lines.push('', 'Options of sstream that ferry refuses:');
    for (const option of refused) lines.push(`  --${option.name} (${option.description}): ${option.unsupported ?? ''}`);
  }
  if (command.examples !== undefined && command.examples.length > 0) {
    lines.push('', 'Examples:', ...command.examples.map((example) => `  ${example}`));
  }
  return `${lines.join('\n')}\n`;
}

export function stringOption(options: ParsedOptions, name: string): string | undefined {
  const value = options[name];
  return typeof value === 'string' ? value : undefined;
}

export function numberOption(options: ParsedOptions, name: string): number | undefined {
  const value = options[name];
  return typeof value === 'number' ? value : undefined;
}

export function flagOption(options: ParsedOptions, name: string): boolean {
  return options[name] === true;
}

export function listOption(options: ParsedOptions, name: string): string[] {
  const value = options[name];
  return Array.isArray(value) ? value : [];
}

export function countOption(options: ParsedOptions, name: string): number {
  const value = options[name];
  return typeof value === 'number' ? value : 0;
}
