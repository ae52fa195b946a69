// ferry(1) generated from the command definitions (as help and completion are), so the manual
// cannot drift from what the parser accepts. `npm run man` writes docs/ferry.1; a test regenerates
// it and compares with the committed file.

import type { CommandDefinition } from './command.js';
import { exitCodeHelp } from './exit-codes.js';
import { environmentHelp } from './output.js';

/** Text as roff reads it: backslashes and hyphens escaped, no line starting with a control character. */
function roff(text: string): string {
  const escaped = text.replaceAll('\\', '\\e').replaceAll('-', '\\-');
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}

function optionLabel(option: CommandDefinition['options'][number]): string {
  const value = option.type === 'boolean' || option.type === 'count' ? '' : ` \\fI${option.valueName ?? 'VALUE'}\\fR`;
  const short = option.short === undefined ? '' : `\\fB\\-${option.short}\\fR, `;
  return `${short}\\fB\\-\\-${roff(option.name)}\\fR${value}`;
}

/**
 * The man page (roff, man(7) macros) for `commands`: name, synopsis, one subsection per command
 * with its usage, description, options (defaults and repeatability as help prints them) and
 * examples, then exit status and environment.
 */
export function formatManPage(commands: readonly CommandDefinition[], version: string): string {
  const lines = [
    `.TH FERRY 1 "" "stream-ferry ${version}" "User Commands"`,
    '.SH NAME',
    'ferry \\- prepare verified MAAS SimpleStreams mirrors for networks without internet access',
    '.SH SYNOPSIS',
    '.B ferry',
    '.I command',
    '[\\fIoptions\\fR] [\\fIarguments\\fR]',
    '.SH COMMANDS',
  ];
  for (const command of commands) {
    lines.push(`.SS ${command.name}`, roff(command.summary));
    for (const usage of command.usage) lines.push('.PP', `\\fBferry ${command.name}\\fR ${roff(usage)}`.trimEnd());
    // Filled, not .nf: the description is wrapped for `--help` at about 100 columns, and man
    // refills it to the reader's terminal (no line overflows 80 columns).
    if (command.description !== undefined) lines.push('.PP', ...command.description.map((line) => roff(line.trim())));
    for (const option of command.options) {
      const fallback = option.default === undefined ? '' : ` (default ${option.default})`;
      const repeat = option.type === 'strings' ? ' (repeatable)' : '';
      lines.push('.TP', optionLabel(option), roff(`${option.description}${fallback}${repeat}`));
    }
    if (command.examples !== undefined && command.examples.length > 0) {
      lines.push('.PP', 'Examples:', '.RS', '.nf', ...command.examples.map(roff), '.fi', '.RE');
    }
  }
  lines.push('.SH EXIT STATUS', '.nf', ...exitCodeHelp.map(roff), '.fi', '.SH ENVIRONMENT');
  for (const [name, text] of environmentHelp) lines.push('.TP', `\\fB${roff(name)}\\fR`, roff(text));
  lines.push('.SH SEE ALSO', 'sstream\\-mirror(1), sstream\\-query(1)', '');
  return lines.join('\n');
}
