import { createEngine, type ImportOutcome } from '../../engine/index.js';
import { flagOption, listOption, stringOption, usageError, type CommandDefinition } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { commandLine, formatBytes } from '../../base/format.js';
import { bundleDisplayOptions, bundleKeyringOption, describeBundle, describeProblem, followBundleJob, trustBundleKeyringsOption } from './verify.js';

export const importCommand: CommandDefinition = {
  name: 'import',
  summary: 'Build or update a mirror tree from a bundle, verifying as it copies',
  usage: ['BUNDLE... --into DIR [--prune] [--allow-older] [--keyring FILE] [--trust-bundle-keyrings] [--url URL] [--json | --progress]'],
  description: [
    'Verifies the bundle\'s signatures first (as `ferry verify` does), then writes each file of the',
    'mirror tree into DIR through a temporary name, hashing it as it is written; nothing reaches its',
    'final name unless every file written in this run verified, so a damaged blob leaves DIR as it',
    'was. Files already in DIR with the right sha256 are kept (hashed, not trusted): an import merges',
    'with a tree made by ferry mirror or sstream-mirror, and a second run writes nothing. The signed',
    'metadata is written last, products files before the index, once every file is in place. Give',
    'every volume; with some missing, their files are named, the metadata waits for a later run and',
    'the exit status is 4 (as import.sh). A bundle older than the metadata DIR publishes is refused',
    '(FERRY_BUNDLE_OLDER) before anything is written or pruned, unless --allow-older.',
    'Nothing but the tree\'s files is written into DIR. Ends with the `maas` commands for MAAS.',
  ],
  options: [
    { name: 'into', type: 'string', valueName: 'DIR', description: 'the mirror tree to build or update (created if missing)' },
    { name: 'prune', type: 'boolean', description: 'after a complete import, remove regular files no published metadata lists (never under streams/ or .ferry/)' },
    { name: 'allow-older', type: 'boolean', description: 'import even when DIR already publishes newer metadata (rolls it back on purpose)' },
    { name: 'url', type: 'string', valueName: 'URL', description: 'the URL MAAS will reach DIR at, for the printed commands (default http://<this host>:8080/)' },
    ...bundleDisplayOptions,
    bundleKeyringOption,
    trustBundleKeyringsOption,
  ],
  examples: ['ferry import /media/usb --into /srv/mirror', 'ferry import /media/usb2 /media/usb1 --into /srv/mirror --prune'],
  async run(options, positionals, io) {
    const target = stringOption(options, 'into');
    if (positionals.length === 0 || target === undefined) throw usageError(importCommand, 'ferry import takes one or more BUNDLE paths and --into DIR.');
    const engine = createEngine({ env: io.env, cwd: io.cwd });
    const job = engine.startJob('import', {
      bundles: positionals,
      target,
      prune: flagOption(options, 'prune'),
      allowOlder: flagOption(options, 'allow-older'),
      keyringFiles: listOption(options, 'keyring'),
      trustBundleKeyrings: flagOption(options, 'trust-bundle-keyrings'),
      serveUrl: stringOption(options, 'url'),
    });
    return followBundleJob(job, options, io, describeImport, (outcome) => (outcome.complete ? ExitCode.ok : ExitCode.incomplete));
  },
};

function describeImport(outcome: ImportOutcome): string {
  const lines = [describeBundle(outcome)];
  lines.push(`Wrote ${outcome.filesWritten.length} file(s) (${formatBytes(outcome.bytesWritten)}) into ${outcome.target}; ${outcome.filesKept} already in place.\n`);
  for (const problem of outcome.missing) lines.push(describeProblem('MISSING', problem));
  for (const path of outcome.pruned) lines.push(`pruned ${path}\n`);
  if (!outcome.complete) {
    lines.push('Incomplete: the metadata was not written. Import the missing volume(s) (or the base bundle) into the same folder to finish.\n');
    return lines.join('');
  }
  lines.push(`Metadata written: ${outcome.metadataWritten.length === 0 ? 'none needed (already in place)' : outcome.metadataWritten.join(', ')}.\n`);
  const maas = outcome.maas;
  if (maas !== null) {
    lines.push('\nTo have MAAS import from this tree, serve it (ferry serve DIR --bind ADDR) and run:\n');
    for (const command of maas.commands) lines.push(`  # ${command.purpose}\n  ${commandLine(command.argv)}\n`);
    lines.push(`($BOOT_SOURCE_ID is the id the first command prints. Keyring: ${maas.keyringNote}.${maas.urlIsGuess ? ` Adjust ${maas.url} to the address and port DIR is served at.` : ''})\n`);
  }
  return lines.join('');
}
