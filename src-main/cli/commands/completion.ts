import type { CommandDefinition } from '../command.js';
import { COMPLETION_SHELLS, completionScript, type CompletionShell } from '../completion.js';
import { usageError } from '../command.js';
import { ExitCode } from '../exit-codes.js';

const isShell = (name: string): name is CompletionShell => COMPLETION_SHELLS.some((shell) => shell === name);

/**
 * `ferry completion SHELL`. Built around `loadAll` (the registry's loadCommands) rather than
 * importing the registry, which imports this module: no import cycle.
 */
export function completionCommand(loadAll: () => Promise<CommandDefinition[]>): CommandDefinition {
  const command: CommandDefinition = {
    name: 'completion',
    summary: 'Print a shell completion script for bash, zsh or fish',
    usage: ['bash|zsh|fish'],
    argumentWords: COMPLETION_SHELLS,
    description: ['Load it from the shell\'s startup file:', '  bash: source <(ferry completion bash)', '  zsh:  source <(ferry completion zsh)', '  fish: ferry completion fish | source'],
    options: [],
    examples: ['ferry completion bash > /etc/bash_completion.d/ferry', 'ferry completion fish > ~/.config/fish/completions/ferry.fish'],
    async run(_options, positionals, io) {
      const [shell, ...extra] = positionals;
      if (shell === undefined || !isShell(shell) || extra.length > 0) {
        throw usageError(command, `Name one shell: ${COMPLETION_SHELLS.join(', ')}.`);
      }
      io.stdout.write(completionScript(shell, await loadAll()));
      return ExitCode.ok;
    },
  };
  return command;
}
