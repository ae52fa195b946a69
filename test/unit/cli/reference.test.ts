import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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

describe('completion of values', () => {
  /** What bash's completion offers for `words` (the last one being completed), run in an empty folder. */
  async function bashOffers(words: readonly string[]): Promise<string[]> {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-completion-'));
    try {
      const script = completionScript('bash', commands);
      const program = `${script}\nCOMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _ferry; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return execFileSync('bash', ['-c', program], { cwd: dir, encoding: 'utf8' }).split('\n').filter((line) => line !== '');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('bash offers the presets for SOURCE and the fixed values of an option', async () => {
    expect(await bashOffers(['ferry', 'query', 's'])).toEqual(['stable']);
    expect(await bashOffers(['ferry', 'sync', 'c'])).toEqual(['candidate']);
    expect(await bashOffers(['ferry', 'export', 's'])).toEqual(['stable']);
    expect(await bashOffers(['ferry', 'export', '--layout', ''])).toEqual(['bundle', 'tree']);
    expect(await bashOffers(['ferry', 'completion', 'z'])).toEqual(['zsh']);
  });

  it('zsh and fish offer the same values', () => {
    const zsh = completionScript('zsh', commands);
    expect(zsh).toContain(':bundle or tree:(bundle tree)');
    expect(zsh).toContain('"words:word:(stable candidate)"');
    const fish = completionScript('fish', commands);
    expect(fish).toContain("-l layout -r -a 'bundle tree'");
    expect(fish).toContain("__fish_seen_subcommand_from query' -F -a 'stable candidate'");
    expect(fish).toContain("__fish_seen_subcommand_from completion' -F -a 'bash zsh fish'");
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
