import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCommands } from '../../../src-main/cli/commands/index.js';
import { COMPLETION_SHELLS, completionScript } from '../../../src-main/cli/completion.js';
import { formatManPage } from '../../../src-main/cli/man-page.js';
import { productVersion } from '../../../src-main/engine/install.js';
import { repoRoot } from '../../support/run-ferry.js';

const commands = await loadCommands();

describe('completion scripts', () => {
  it.each(COMPLETION_SHELLS)('%s offers every command and every option of each', (shell) => {
    const script = completionScript(shell, commands);
    for (const command of commands) {
      expect(script).toContain(command.name);
      for (const option of command.options) {
        // fish names long options without dashes (-l name); bash and zsh with them.
        expect(script, `${command.name} --${option.name}`).toContain(shell === 'fish' ? `__fish_seen_subcommand_from ${command.name}' -l ${option.name}` : `--${option.name}`);
        if (option.short !== undefined) expect(script).toContain(shell === 'fish' ? `-s ${option.short}` : `-${option.short}`);
      }
    }
  });
});

describe('the man page', () => {
  it('docs/ferry.1 is what `npm run man` generates from the command definitions now', async () => {
    const committed = await readFile(join(repoRoot, 'docs/ferry.1'), 'utf8');
    // On a difference: run `npm run man` and commit docs/ferry.1.
    expect(committed).toBe(formatManPage(commands, productVersion()));
  });

  it('leaves descriptions to man to fill: .nf only around examples and the exit-status table', () => {
    const page = formatManPage(commands, productVersion());
    const unfilled = page.split('\n').filter((line) => line === '.nf').length;
    expect(unfilled).toBe(commands.filter((command) => (command.examples?.length ?? 0) > 0).length + 1);
  });

  it('documents every command and option', () => {
    const page = formatManPage(commands, productVersion());
    for (const command of commands) {
      expect(page).toContain(`.SS ${command.name}`);
      for (const option of command.options) expect(page).toContain(`\\fB\\-\\-${option.name.replaceAll('-', '\\-')}\\fR`);
    }
    expect(page).toContain('NODE_EXTRA_CA_CERTS');
  });
});
