import { SOURCE_PRESET_NAMES, createEngine, filterGroups, type Engine, type SelectionRequest } from '../../engine/index.js';
import {
  countOption,
  flagOption,
  numberOption,
  stringOption,
  usageError,
  type CliIo,
  type CommandDefinition,
} from '../command.js';
import { adviceLines } from '../advice.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes } from '../../base/format.js';
import { TABLE_WIDTH, formatRetry, formatTable } from '../output.js';
import { followJob } from '../progress-display.js';
import { pythonDictRepr, pythonPercentFormat, pythonPrettyDict } from '../python-format.js';
import { sourceOptions, streamInputFrom, trustNotice } from './source-options.js';

export const queryCommand: CommandDefinition = {
  name: 'query',
  summary: 'List the items of a stream that match filters (like sstream-query)',
  argumentWords: SOURCE_PRESET_NAMES,
  usage: [
    '[--max N] [--json | -o FORMAT | --pretty] [--keyring FILE] [--no-verify] SOURCE [filters...] [--or filters...]',
    '--products [--max N] SOURCE [filters...] [--or filters...]',
  ],
  description: [
    'SOURCE is `stable`, `candidate`, an http(s) or file:// URL, or a local path. Filters are',
    "sstream's: KEY=VALUE, KEY!=VALUE, KEY~REGEX, KEY!~REGEX (unanchored, case-sensitive), ANDed;",
    'a literal --or starts another group, and an item matching any group is listed.',
    'Without a format option each item prints as sstream-query prints it (a Python dict).',
  ],
  options: [
    { name: 'max', type: 'number', valueName: 'N', description: 'keep the N newest versions of each product (plain string order)', min: 0 },
    { name: 'json', type: 'boolean', description: 'print one JSON list of flattened items, each with item_url' },
    { name: 'output-format', short: 'o', type: 'string', valueName: 'FORMAT', description: "print each item with a Python %-format, e.g. '%(item_url)s %(sha256)s'" },
    { name: 'pretty', type: 'boolean', description: "print each item as Python's pprint does (sstream-query --pretty): sorted keys, wrapped at 80 columns" },
    { name: 'verbose', short: 'v', type: 'count', description: 'also say on stderr how many items matched' },
    { name: 'products', type: 'boolean', description: 'print a table of products instead of items' },
    ...sourceOptions,
  ],
  examples: [
    "ferry query stable arch=amd64 'release~(jammy|noble)' ftype=squashfs",
    "ferry query -o '%(item_url)s %(sha256)s' --max 1 stable os=ubuntu",
    "ferry query --products stable 'os~(grub*|pxelinux)' --or release=noble",
  ],
  async run(options, positionals, io) {
    const [source, ...filterArgs] = positionals;
    if (source === undefined) throw usageError(queryCommand, 'Name a SOURCE to query.');
    const formats = ['json', 'pretty', 'products'].filter((name) => flagOption(options, name));
    const outputFormat = stringOption(options, 'output-format');
    if (formats.length + (outputFormat === undefined ? 0 : 1) > 1) {
      throw usageError(queryCommand, 'Choose one of --json, -o, --pretty and --products.');
    }
    const request: SelectionRequest = { selection: filterGroups(filterArgs), max: numberOption(options, 'max') };
    const engine = createEngine({ env: io.env, cwd: io.cwd });
    const loaded = await followJob(engine.startJob('load', streamInputFrom(options, source, io)), io, (event) => {
      if (event.type === 'retry') io.stderr.write(`${formatRetry(event)}\n`);
    });
    io.stderr.write(trustNotice(loaded.trust, loaded.source, loaded.metadataFiles));

    // Bootloaders matter to a mirror, not to a query; why nothing matched matters to both.
    const explainNoMatch = (): void => {
      const { noMatch } = engine.advise(loaded.streamId, request);
      for (const line of adviceLines({ noMatch, lacksBootloaders: false }, undefined)) io.stderr.write(`${line}\n`);
    };
    if (flagOption(options, 'products')) {
      printProducts(engine, loaded.streamId, request, io);
      explainNoMatch();
      return ExitCode.ok;
    }
    const items = engine.query(loaded.streamId, request).map((item) => new Map(Object.entries(item)));
    if (flagOption(options, 'json')) {
      io.stdout.write(`${JSON.stringify(items.map(sortedRecord), null, 2)}\n`);
    } else if (flagOption(options, 'pretty')) {
      for (const item of items) io.stdout.write(`${pythonPrettyDict(item)}\n`);
    } else if (outputFormat !== undefined) {
      for (const item of items) {
        const line = pythonPercentFormat(outputFormat, item);
        // As sstream-query: the item is skipped with two lines on stderr, and the run goes on (exit 0).
        if (typeof line === 'string') io.stdout.write(`${line}\n`);
        else io.stderr.write(`output format failed. Missing ${line.missing}\nitem: ${pythonDictRepr(item)}\n`);
      }
    } else {
      for (const item of items) io.stdout.write(`${pythonDictRepr(item)}\n`);
    }
    explainNoMatch();
    if (countOption(options, 'verbose') > 0) io.stderr.write(`${items.length} item(s) matched.\n`);
    return ExitCode.ok;
  },
};

function sortedRecord(item: ReadonlyMap<string, string>): Record<string, string> {
  const record: Record<string, string> = {};
  for (const key of [...item.keys()].sort()) record[key] = item.get(key) ?? '';
  return record;
}

function printProducts(engine: Engine, streamId: string, request: SelectionRequest, io: CliIo): void {
  const rows = engine.products(streamId, request).map((product) => [
    product.productName,
    product.os,
    product.release,
    product.arch,
    product.kernel,
    String(product.versions.length),
    product.latestVersion,
    formatBytes(product.latestVersionBytes),
  ]);
  io.stdout.write(
    // The product name and its latest version are what a reader looks for: never cut.
    formatTable(['PRODUCT', 'OS', 'RELEASE', 'ARCH', 'SUBARCH', 'VERSIONS', 'LATEST', 'SIZE'], rows, new Set([5, 7]), TABLE_WIDTH, { whole: new Set([6]), ownLine: 0 }),
  );
  io.stderr.write(`${rows.length} products\n`);
}
