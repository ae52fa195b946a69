import {
  BOOTLOADER_GROUP,
  JOB_DEFAULTS,
  SOURCE_PRESET_NAMES,
  UBUNTU_CLOUDIMAGE_KEYRING,
  bundledKeyringPath,
  createEngine,
  filterGroups,
  maasCommandsFor,
  type JobEvent,
  type MirrorOutcome,
  type PlanSummary,
  type SelectionGroups,
  type StreamTrust,
} from '../../engine/index.js';
import { adviceLines } from '../advice.js';
import {
  countOption,
  flagOption,
  listOption,
  numberOption,
  usageError,
  type CliIo,
  type CommandDefinition,
  type OptionDefinition,
  type ParsedOptions,
} from '../command.js';
import { ExitCode, exitCodeFor } from '../exit-codes.js';
import { commandLine, formatBytes } from '../../base/format.js';
import { factLines } from '../output.js';
import { JobDisplay, displayModeFor, followJob, type DisplayMode } from '../progress-display.js';
import { sourceOptions, streamInputFrom, trustNotice } from './source-options.js';

/** Selection and transfer options shared by `ferry mirror` and `ferry sync`. */
export const selectionOptions: OptionDefinition[] = [
  { name: 'max', type: 'number', valueName: 'N', description: 'keep at most N versions of each product (the newest by plain string order)', min: 0 },
  { name: 'keep', type: 'boolean', description: 'with --max: keep up to N versions even after they leave the source' },
  { name: 'bootloaders', type: 'boolean', description: "also select MAAS's bootloaders (adds the filter group --or 'bootloader-type~.')" },
];

/** The filter arguments with --bootloaders applied: one more group, unless nothing is filtered (everything is selected). */
export function selectionFrom(options: ParsedOptions, filterArgs: readonly string[]): SelectionGroups {
  const withBootloaders = flagOption(options, 'bootloaders') && filterArgs.length > 0;
  return filterGroups(withBootloaders ? [...filterArgs, '--or', ...BOOTLOADER_GROUP] : filterArgs);
}

export const transferOptions: OptionDefinition[] = [
  { name: 'dry-run', type: 'boolean', description: 'print the plan and change nothing' },
  { name: 'verify-existing', type: 'boolean', description: 're-hash every file already present and repair what is wrong' },
  { name: 'concurrency', type: 'number', valueName: 'N', description: 'files downloaded at once', default: JOB_DEFAULTS.concurrency, min: 1 },
  { name: 'connections', type: 'number', valueName: 'N', description: 'connections per server', default: JOB_DEFAULTS.connectionsPerHost, min: 1 },
  {
    name: 'no-direct-io',
    type: 'boolean',
    description: 'write through the page cache instead of around it (Linux O_DIRECT); for file systems where direct writes are slow',
  },
  { name: 'progress', type: 'boolean', description: 'print progress lines even when stderr is not a terminal' },
  { name: 'json', type: 'boolean', description: 'print one JSON event per line on stdout (the last is the result)' },
  { name: 'quiet', short: 'q', type: 'boolean', description: 'print only failures, for cron and systemd timers (the exit status tells the rest)' },
  { name: 'verbose', short: 'v', type: 'count', description: 'say more: each file fetched, present or removed' },
];

export const mirrorCommand: CommandDefinition = {
  name: 'mirror',
  summary: 'Mirror a stream into a directory MAAS can use (a drop-in for sstream-mirror)',
  argumentWords: SOURCE_PRESET_NAMES,
  usage: ['[--max N] [--keep] [--dry-run] [--progress] [--keyring FILE] [--no-verify] [--no-item-download] [-v] SOURCE TARGET [filters...] [--or filters...]'],
  description: [
    'Writes the same tree sstream-mirror writes: every selected item at its path, then the upstream',
    'signed metadata byte for byte (products files, then the index). Downloads run in parallel, are',
    'verified (size and the strongest listed checksum) before they reach their final path, and resume',
    'after an interruption. State lives in TARGET/.ferry/, so a rerun only fetches what is new.',
    'Versions past --max are removed; a file shared by several products stays while referenced.',
    'Before any change, the plan prints as sstream-mirror prints it (+/- lines, then Mb change).',
  ],
  options: [
    ...selectionOptions,
    { name: 'no-item-download', type: 'boolean', description: 'write the metadata but fetch no item files' },
    {
      name: 'mirror',
      type: 'strings',
      valueName: 'URL',
      description: 'another mirror base to fetch an item file from when the source fails it (missing, server error, wrong checksum); still verified',
    },
    {
      name: 'no-checksumming-reader',
      type: 'boolean',
      description: "sstream-mirror's switch to skip checksums",
      unsupported: 'every file is checked against its listed size and checksum before it is placed; leave the option out.',
    },
    ...transferOptions,
    ...sourceOptions,
  ],
  examples: [
    "ferry mirror --max 1 stable /var/www/html/maas/images/ephemeral-v3/stable arch=amd64 'release~(jammy|noble)' --or 'os~(grub*|pxelinux)'",
    'ferry mirror --dry-run candidate ./mirror os=ubuntu release=noble',
  ],
  async run(options, positionals, io) {
    const [source, target, ...filterArgs] = positionals;
    if (source === undefined || target === undefined) throw usageError(mirrorCommand, 'Name a SOURCE and a TARGET directory.');
    assertKeepHasMax(mirrorCommand, options);
    const selection = selectionFrom(options, filterArgs);
    const events = showJobEvents(options, io);
    const engine = createEngine({ env: io.env, cwd: io.cwd });
    const job = engine.startJob('mirror', {
      ...jobOptionsFrom(options),
      stream: streamInputFrom(options, source, io),
      target,
      selection,
      fetchItems: !flagOption(options, 'no-item-download'),
      mirrors: listOption(options, 'mirror'),
    });
    const outcome = await followJob(job, io, events.onEvent).finally(events.finish);
    return reportOutcome(outcome, io, events.mode);
  },
};

/** How `ferry mirror` and `ferry sync` show a running job: progress, the trust notice, the plan. */
export function showJobEvents(options: ParsedOptions, io: CliIo): { mode: DisplayMode; onEvent: (event: JobEvent) => void; finish: () => void } {
  const mode = displayModeFor(io, { json: flagOption(options, 'json'), progress: flagOption(options, 'progress'), quiet: flagOption(options, 'quiet') });
  const display = new JobDisplay(io, mode, countOption(options, 'verbose'));
  return {
    mode,
    onEvent: (event) => {
      display.handle(event);
      if (event.type === 'loaded') display.note(trustNotice(event.trust, event.source, event.metadataFiles));
      if (event.type === 'plan') display.note(formatPlan(event.plan));
    },
    finish: () => {
      display.finish();
    },
  };
}

export function assertKeepHasMax(command: CommandDefinition, options: ParsedOptions): void {
  if (flagOption(options, 'keep') && numberOption(options, 'max') === undefined) {
    throw usageError(command, '--keep needs --max (it keeps up to --max versions).');
  }
}

export function jobOptionsFrom(options: ParsedOptions): {
  max: number | undefined;
  keep: boolean;
  dryRun: boolean;
  verifyExisting: boolean;
  concurrency: number | undefined;
  connectionsPerHost: number | undefined;
  directIo: boolean;
} {
  return {
    max: numberOption(options, 'max'),
    keep: flagOption(options, 'keep'),
    dryRun: flagOption(options, 'dry-run'),
    verifyExisting: flagOption(options, 'verify-existing'),
    concurrency: numberOption(options, 'concurrency'),
    connectionsPerHost: numberOption(options, 'connections'),
    directIo: !flagOption(options, 'no-direct-io'),
  };
}

/**
 * The plan as sstream-mirror prints it (on stderr, as it does, so scripts that parse it keep
 * working), then our totals in human units.
 */
export function formatPlan(plan: PlanSummary): string {
  return (
    `${plan.referenceLines.join('\n')}\n` +
    `Plan: ${plan.versionsAdded} version(s) to add, ${plan.versionsRemoved} to remove; ` +
      `${plan.filesWanted} file(s) wanted (${formatBytes(plan.bytesWanted)}), ` +
      `${plan.filesToFetch} to fetch (${formatBytes(plan.bytesToFetch)}), ` +
      // --verify-existing re-hashes what is present and fetches again what proves wrong; say so
      // rather than promise "0 to fetch".
      (plan.filesToVerify > 0 ? `${plan.filesToVerify} to re-verify (${formatBytes(plan.bytesToVerify)}) and fetch again if wrong, ` : '') +
      `${plan.filesToRemove} to remove (${formatBytes(plan.bytesToRemove)}).\n` +
    // The reference's "Mb change" counts every added item, against the published metadata; what is
    // fetched counts distinct files not yet here. Say why they differ rather than leave a contradiction.
    (plan.bytesAdded > plan.bytesToFetch
      ? `The + lines add up to ${formatBytes(plan.bytesAdded)} as sstream-mirror counts them; ` +
        `${formatBytes(plan.bytesAdded - plan.bytesToFetch)} of that is already here (files shared by items, or fetched by an unfinished earlier run) and is not fetched again.\n`
      : '') +
    plan.rejected.map((rejected) => `Rejected: ${rejected.error.message}\n`).join('') +
    adviceLines(plan.advice, '--bootloaders').map((line) => `${line}\n`).join('')
  );
}

/** What the closing lines say about the metadata, which a mirror writes and the library records. */
export interface MetadataWording {
  /** After failures: why the previous state still stands. */
  keptPrevious: string;
  /** After success, given how many metadata files were written or recorded. */
  updated: (files: number) => string;
  /** What MIRROR_URL in the MAAS commands stands for. */
  servedAt: string;
}

const MIRROR_WORDING: MetadataWording = {
  keptPrevious: 'the metadata was not updated, so MAAS still sees the previous state',
  updated: (files) => `Metadata written last: ${files} file(s).`,
  servedAt: 'where TARGET is served, ending in / (e.g. by ferry serve TARGET)',
};

/** The closing lines on stderr (none with --quiet; with --json the result line on stdout); returns the exit status. */
export function reportOutcome(outcome: MirrorOutcome, io: CliIo, mode: DisplayMode, wording: MetadataWording = MIRROR_WORDING): number {
  const exitCode = outcomeExitCode(outcome);
  if (mode === 'json') {
    io.stdout.write(`${JSON.stringify({ type: 'result', exitCode, ...outcome })}\n`);
    return exitCode;
  }
  // Each failure was printed as it happened (a file-failed event, shown in every mode).
  if (mode === 'quiet') return exitCode;
  if (outcome.dryRun) {
    io.stderr.write('Dry run: nothing was changed.\n');
    return exitCode;
  }
  io.stderr.write(
    `Fetched ${outcome.filesFetched} file(s) (${formatBytes(outcome.bytesFetched)}); ${outcome.filesPresent} already present and verified; ` +
      `removed ${outcome.removedPaths.length}.\n`,
  );
  if (outcome.failures.length > 0) {
    // Failed files and rejected items alike hold back every removal and the metadata (all or nothing).
    io.stderr.write(`${outcome.failures.length} file(s) or item(s) failed; nothing was removed and ${wording.keptPrevious}:\n`);
    for (const failure of outcome.failures) io.stderr.write(`${[`  ${failure.url}`, `    ${failure.error.message}`, ...factLines(failure.error, '    ')].join('\n')}\n`);
    io.stderr.write('Run the same command again to retry; completed files are kept.\n');
  } else if (outcome.metadataWritten.length > 0) {
    io.stderr.write(`${wording.updated(outcome.metadataWritten.length)}\n`);
    io.stderr.write(formatMaasAdvice(outcome, wording));
  }
  return exitCode;
}

/**
 * The MAAS commands for what was mirrored (engine/maas.ts), with the variables to set, and what
 * MAAS will show for the products the verbatim metadata lists but the mirror lacks.
 */
function formatMaasAdvice(outcome: MirrorOutcome, wording: MetadataWording): string {
  const commands = maasCommandsFor({ url: '$MIRROR_URL', keyringFilename: maasKeyring(outcome.trust), products: outcome.mirrored });
  const lines = [
    '',
    'To use it in MAAS, set these shell variables and run the commands below:',
    '  PROFILE         your MAAS CLI profile',
    `  MIRROR_URL      ${wording.servedAt}`,
    '  BOOT_SOURCE_ID  the boot source id (maas $PROFILE boot-sources read)',
    ...commands.flatMap((command) => [`  # ${command.purpose}`, `  ${commandLine(command.argv)}`]),
  ];
  if (outcome.productsNotMirrored > 0) {
    lines.push(
      '',
      `The metadata, copied verbatim as sstream-mirror copies it, lists ${outcome.productsNotMirrored} more`,
      'product(s) that were not mirrored: MAAS shows them as available to select, but',
      'importing one fails, as their files are not here. Select only what is above.',
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * keyring_filename as a path on the MAAS region controller: Ubuntu's own keyring for the bundled
 * key (the ubuntu-cloudimage-keyring package puts it there), else the --keyring file, to be copied
 * there; none for unsigned (.json) metadata.
 */
function maasKeyring(trust: StreamTrust): string | undefined {
  if (trust.kind === 'unsigned-source') return undefined;
  const bundled = bundledKeyringPath();
  const given = trust.kind === 'verified' ? trust.keyringFiles.find((file) => file !== bundled) : undefined;
  return given ?? UBUNTU_CLOUDIMAGE_KEYRING;
}

function outcomeExitCode(outcome: MirrorOutcome): number {
  const [first] = outcome.failures;
  if (first === undefined) return ExitCode.ok;
  const allVerification = outcome.failures.every((failure) => exitCodeFor(failure.error.code) === ExitCode.verificationFailed);
  return allVerification ? ExitCode.verificationFailed : ExitCode.failure;
}
