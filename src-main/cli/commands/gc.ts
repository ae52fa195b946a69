import { createEngine } from '../../engine/index.js';
import { flagOption, stringOption, type CommandDefinition } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes } from '../../base/format.js';
import { followJob } from '../progress-display.js';
import { libraryOption } from './library-option.js';

export const gcCommand: CommandDefinition = {
  name: 'gc',
  summary: 'Remove the library files that no selection needs any more',
  usage: ['[--library DIR] [--dry-run] [--json]'],
  description: [
    'Deletes every blob that no selection needs: kept are the files held items refer to and, for',
    'each source, its latest metadata snapshot\'s files and what that snapshot\'s recorded selection',
    'and each of its saved selections (`ferry sync --profile`) want from that metadata. What goes:',
    'versions that `ferry sync --max` let go, superseded metadata, and partial downloads that nothing',
    'will resume. Partial downloads of a sync that did not finish are kept for its rerun.',
    'Prints each file removed and the bytes freed.',
  ],
  options: [
    libraryOption,
    { name: 'dry-run', type: 'boolean', description: 'list what would be removed and remove nothing' },
    { name: 'json', type: 'boolean', description: 'print one JSON document with what was removed' },
  ],
  examples: ['ferry gc --dry-run', 'ferry gc --library /srv/ferry'],
  async run(options, _positionals, io) {
    const engine = createEngine({ env: io.env, cwd: io.cwd });
    const job = engine.startJob('gc', { library: stringOption(options, 'library'), dryRun: flagOption(options, 'dry-run') });
    const outcome = await followJob(job, io, undefined);
    if (flagOption(options, 'json')) {
      io.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
      return ExitCode.ok;
    }
    const verb = outcome.dryRun ? 'would remove' : 'removed';
    for (const blob of outcome.removedBlobs) io.stdout.write(`${verb} blob ${blob.sha256} (${formatBytes(blob.size)})\n`);
    for (const partial of outcome.removedPartials) io.stdout.write(`${verb} partial download ${partial.name} (${formatBytes(partial.size)})\n`);
    const counts = `${outcome.removedBlobs.length} blob(s) and ${outcome.removedPartials.length} partial download(s)`;
    io.stdout.write(
      outcome.dryRun
        ? `Dry run: would remove ${counts}, freeing ${formatBytes(outcome.bytesFreed)}; nothing was changed.\n`
        : `Removed ${counts}; freed ${formatBytes(outcome.bytesFreed)}.\n`,
    );
    if (outcome.partialsKept > 0) {
      io.stderr.write(`Kept ${outcome.partialsKept} partial download(s) of the last sync, which did not finish: run it again to resume them.\n`);
    }
    return ExitCode.ok;
  },
};
