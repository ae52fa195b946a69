import { createEngine } from '../../engine/index.js';
import { stringOption, usageError, type CommandDefinition } from '../command.js';
import { ExitCode } from '../exit-codes.js';

export const receiptCommand: CommandDefinition = {
  name: 'receipt',
  summary: 'Record what a mirror tree holds, for the next incremental export',
  usage: ['DIR --out FILE [--site NAME]'],
  description: [
    'Hashes every file the metadata published in DIR lists and that is present (nothing is taken on',
    'trust), and writes a receipt: the metadata files and the blobs by sha256. Carry it back to the',
    'online side: `ferry export --since FILE` then carries exactly what this site lacks.',
  ],
  options: [
    { name: 'out', type: 'string', valueName: 'FILE', description: 'where to write the receipt (through a temporary name)' },
    { name: 'site', type: 'string', valueName: 'NAME', description: 'the site name to record in the receipt' },
  ],
  examples: ['ferry receipt /srv/mirror --out /media/usb/receipt-dc1.json --site dc1'],
  async run(options, positionals, io) {
    const [dir, ...extra] = positionals;
    const out = stringOption(options, 'out');
    if (dir === undefined || extra.length > 0 || out === undefined) throw usageError(receiptCommand, 'ferry receipt takes one DIR and --out FILE.');
    const receipt = await createEngine({ env: io.env, cwd: io.cwd }).writeReceipt({ dir, out, site: stringOption(options, 'site') });
    io.stdout.write(`Receipt ${receipt.id}: ${receipt.metadata.length} metadata file(s) and ${receipt.blobs.length} blob(s) hashed in ${dir}; written to ${out}.\n`);
    return ExitCode.ok;
  },
};
