import { createEngine, type LibrarySummary } from '../../engine/index.js';
import { flagOption, stringOption, type CliIo, type CommandDefinition } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { shellWord, formatBytes } from '../../base/format.js';
import { formatTable } from '../output.js';
import { libraryOption } from './library-option.js';

export const libraryCommand: CommandDefinition = {
  name: 'library',
  summary: 'Show what the library holds: products, versions and bytes',
  usage: ['[--library DIR] [--json]'],
  description: [
    'One row per product: its source, content id, the versions held, how many items and their bytes',
    '(a file shared by several products counts in each). The totals add the blobs on disk, where',
    'every file is stored once. Saved selections (`ferry sync --profile`) and the latest metadata',
    'snapshot of each source follow.',
  ],
  options: [libraryOption, { name: 'json', type: 'boolean', description: 'print one JSON document instead of tables' }],
  examples: ['ferry library', 'ferry library --library /srv/ferry --json'],
  async run(options, _positionals, io) {
    const summary = await createEngine({ env: io.env, cwd: io.cwd }).librarySummary({ library: stringOption(options, 'library') });
    if (flagOption(options, 'json')) {
      io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      return ExitCode.ok;
    }
    printSummary(summary, io);
    return ExitCode.ok;
  },
};

function printSummary(summary: LibrarySummary, io: CliIo): void {
  if (!summary.exists) {
    io.stderr.write(`There is no library at ${summary.libraryDir} yet; \`ferry sync\` creates it.\n`);
    return;
  }
  io.stderr.write(`Library ${summary.libraryDir}\n`);
  // One table per source and content id, named above it: as columns they would take half of the
  // 80 and cut the product names. A URL is never cut.
  const groups = new Map<string, LibrarySummary['products']>();
  for (const product of summary.products) {
    const heading = `${product.sourceUrl}\n  ${product.contentId}`;
    groups.set(heading, [...(groups.get(heading) ?? []), product]);
  }
  for (const [heading, products] of groups) {
    const rows = products.map((product) => [product.product, product.versions.join(', '), String(product.itemCount), formatBytes(product.bytes)]);
    io.stdout.write(`${heading}\n${formatTable(['PRODUCT', 'VERSIONS', 'ITEMS', 'BYTES'], rows, new Set([2, 3]))}\n`);
  }
  const { totals } = summary;
  io.stdout.write(
    `Total: ${totals.products} product(s), ${totals.versions} version(s), ${totals.items} item(s), ${formatBytes(totals.itemBytes)};\n` +
      `       ${totals.blobs} blob(s) on disk, ${formatBytes(totals.blobBytes)}.\n`,
  );
  if (totals.blobsMissing > 0) {
    io.stderr.write(
      `${totals.blobsMissing} blob(s) the catalog records are missing from disk or changed in size; the next \`ferry sync\` repairs the catalog and fetches what its selection needs.\n`,
    );
  }
  if (summary.profiles.length > 0) {
    io.stdout.write('\nSaved selections:\n');
    for (const profile of summary.profiles) {
      const limits = [
        ...(profile.max === undefined ? [] : ['--max', String(profile.max)]),
        ...(profile.keep ? ['--keep'] : []),
        ...(profile.path === undefined ? [] : ['--path', profile.path]),
        ...profile.keyringFiles.flatMap((file) => ['--keyring', file]),
        ...(profile.verify ? [] : ['--no-verify']),
      ];
      io.stdout.write(`  ${profile.name}: ${[...limits, profile.source, ...profile.filters].map(shellWord).join(' ')}\n`);
    }
  }
  const snapshots = summary.sources.flatMap(({ url, latestSnapshot }) => (latestSnapshot === undefined ? [] : [{ url, snapshot: latestSnapshot }]));
  if (snapshots.length > 0) {
    io.stdout.write('\nLatest metadata snapshots:\n');
    for (const { url, snapshot } of snapshots) {
      const trust = snapshot.signed ? `signed by ${snapshot.keyringFingerprints.join(', ')}` : 'NOT signature-checked';
      io.stdout.write(`  ${url}: ${snapshot.files.length} file(s) fetched ${snapshot.fetchedAt}, ${trust}\n`);
    }
  }
}
