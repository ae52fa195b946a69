import { createInterface } from 'node:readline/promises';
import { createEngine, filterGroups, MIN_PART_BYTES, SOURCE_PRESET_NAMES, type ExportOutcome, type ExportPlanSummary, type JobEvent, type JobHandle } from '../../engine/index.js';
import { countOption, flagOption, listOption, numberOption, stringOption, usageError, type CliIo, type CommandDefinition } from '../command.js';
import { ejectWords } from '../eject-words.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes } from '../../base/format.js';
import { trustWarningWords } from '../trust-words.js';
import { JobDisplay, displayModeFor, followJob } from '../progress-display.js';
import { libraryOption } from './library-option.js';

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** `700M`, `4G`, `4GiB`, `1048576`: binary units, as dd and split read them. Throws FERRY_USAGE. */
export function parseSizeOption(command: CommandDefinition, option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  const bytes = match === null ? NaN : Number(match[1]) * (SIZE_UNITS[(match[2] ?? '').toUpperCase()] ?? NaN);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw usageError(command, `--${option} takes a size such as 700M or 4G (binary units), not '${text}'.`);
  return bytes;
}

export const exportCommand: CommandDefinition = {
  name: 'export',
  summary: 'Write a bundle (or a plain tree) for the air gap, from the library or a mirror tree',
  argumentWords: SOURCE_PRESET_NAMES,
  usage: [
    '--to PATH [--to PATH...] [--library DIR] [--max N] [--site NAME | --since RECEIPT] [--volume-size SIZE] [--dry-run] SOURCE [filters...] [--or filters...]',
    '--to PATH [--library DIR] --profile NAME [--site NAME | --since RECEIPT]',
    '--to PATH [--to PATH...] --tree DIR [--max N] [--since RECEIPT] [--volume-size SIZE] [--layout bundle|tree] [filters...]',
  ],
  description: [
    'Before anything is written, says what the export needs: bytes, free space with a margin, the',
    "target file system's rules (FAT32's 4 GiB limit: large files go in parts; ':' names: the bundle",
    'names files by sha256), and volumes. Then writes <PATH>/FERRY/<bundle id>/: blobs, SHA256SUMS,',
    'README.txt, audit.jsonl, keyrings/, import.sh, and bundle.json last; reads every blob back',
    'around the page cache and re-hashes it. A rerun after an interruption keeps what was written.',
    'From --tree every file is re-hashed against the signed metadata as it is copied. --site NAME',
    'carries only what earlier exports to NAME did not; --since RECEIPT only what the receipt lacks.',
    'With --volume-size and one --to, volume N goes to <PATH>/volume-N/FERRY/<bundle id>/.',
    'An export larger than the drive goes one drive after another: each volume holds at most the first',
    "--to's free space less the margin (blobs in sha256 order; a volume ends at the first blob that",
    'would not fit), volume N goes to the N-th --to at <PATH>/FERRY/<bundle id>/; each is',
    'written, verified and ejected before the next. On a terminal, a volume with no --to left is asked',
    'for (insert the next drive, type the folder it is mounted at); without a terminal the export is',
    'refused before anything is written, naming how many drives of what free space it needs. A rerun',
    'given a drive that holds a volume of the interrupted export continues that export.',
    'When PATH is on a removable drive, the drive is then ejected (unless --no-eject); written, verified',
    'and ejected are reported on lines of their own. Exit status: 0 written and verified (and ejected',
    'where there was a drive); 3 a blob read back wrong; 1 the eject failed (the drive is busy: the',
    'processes holding it are named), the bundle itself being complete.',
    "The last line on stdout is the bundle's directory.",
  ],
  options: [
    { name: 'to', type: 'strings', valueName: 'PATH', description: "the target: a folder that exists (never created) or a drive's mount point; again for each further drive (volume 2, 3, ...)" },
    { name: 'tree', type: 'string', valueName: 'DIR', description: 'export from a mirror tree (ferry mirror, sstream-mirror) instead of the library' },
    libraryOption,
    { name: 'profile', type: 'string', valueName: 'NAME', description: "export a saved selection's source, filters and --max" },
    { name: 'path', type: 'string', valueName: 'PATH', description: 'index or products file to start from, relative to the source or tree' },
    { name: 'max', type: 'number', valueName: 'N', description: 'the newest N versions of each product' },
    { name: 'keyring', type: 'strings', valueName: 'FILE', description: 'OpenPGP keyring to verify signatures with and carry; default: the bundled Ubuntu cloud image keyring' },
    { name: 'site', type: 'string', valueName: 'NAME', description: 'carry only blobs earlier exports to NAME did not (the library keeps the ledger)' },
    { name: 'since', type: 'string', valueName: 'RECEIPT', description: 'carry only blobs the receipt (ferry receipt) does not list' },
    { name: 'volume-size', type: 'string', valueName: 'SIZE', description: 'split the bundle into volumes of at most SIZE (700M, 4G)' },
    { name: 'part-size', type: 'string', valueName: 'SIZE', description: "largest part of a blob; default: the file system's largest file" },
    { name: 'layout', type: 'string', valueName: 'bundle|tree', description: 'a bundle, or a plain mirror tree where the file system holds it', default: 'bundle' },
    { name: 'no-eject', type: 'boolean', description: 'leave the drive mounted afterwards (by default a removable drive is ejected once written and verified)' },
    { name: 'dry-run', type: 'boolean', description: 'print the verdict and write nothing' },
    { name: 'progress', type: 'boolean', description: 'print progress lines even when stderr is not a terminal' },
    { name: 'json', type: 'boolean', description: 'print one JSON event per line on stdout (the last is the result)' },
    { name: 'verbose', short: 'v', type: 'count', description: 'say more' },
  ],
  examples: [
    'ferry export --to /media/usb --profile lab --site dc1',
    'ferry export --to /media/usb --tree /srv/mirror arch=amd64 --volume-size 4G',
    'ferry export --to /media/usb1 --to /media/usb2 --profile lab',
    'ferry export --to /media/usb --since receipt.json stable os=ubuntu release=noble',
  ],
  async run(options, positionals, io) {
    const [to, ...nextTargets] = listOption(options, 'to');
    if (to === undefined) throw usageError(exportCommand, 'Name the target with --to PATH.');
    const tree = stringOption(options, 'tree');
    const profile = stringOption(options, 'profile');
    const layout = stringOption(options, 'layout') ?? 'bundle';
    if (layout !== 'bundle' && layout !== 'tree') throw usageError(exportCommand, `--layout takes bundle or tree, not '${layout}'.`);
    // From the library the first positional is the source, as in ferry sync; from a tree, all are filters.
    const [first, ...rest] = positionals;
    const source = tree === undefined && profile === undefined ? first : undefined;
    if (tree !== undefined && stringOption(options, 'site') !== undefined) {
      throw usageError(exportCommand, '--site keeps its ledger in the library, and --tree exports without one; to carry only what a site lacks from a tree, bring its receipt (ferry receipt) and use --since RECEIPT.');
    }
    const partSize = parseSizeOption(exportCommand, 'part-size', stringOption(options, 'part-size'));
    if (partSize !== undefined && partSize < MIN_PART_BYTES) throw usageError(exportCommand, `--part-size must be at least 4K (${MIN_PART_BYTES} bytes); the default, the largest file the target holds, suits most drives.`);
    if (tree === undefined && profile === undefined && source === undefined) throw usageError(exportCommand, 'Name a SOURCE synced into the library, --profile NAME, or --tree DIR.');
    if (profile !== undefined && positionals.length > 0) throw usageError(exportCommand, '--profile exports the saved selection as saved; give no SOURCE or filters with it.');
    const filters = tree !== undefined ? positionals : source === undefined ? [] : rest;
    const json = flagOption(options, 'json');
    const display = new JobDisplay(io, displayModeFor(io, { json, progress: flagOption(options, 'progress'), quiet: false }), countOption(options, 'verbose'));
    const engine = createEngine({ env: io.env, cwd: io.cwd });
    // The next drive is asked for only where a person can answer: a terminal on stdin and stderr.
    const stdin = io.stdin;
    const ask = !json && stdin?.isTTY === true && io.stderr.isTTY === true ? stdin : undefined;
    const job = engine.startJob('export', {
      to,
      nextTargets: nextTargets.length > 0 ? nextTargets : undefined,
      askForTargets: ask !== undefined,
      tree,
      library: stringOption(options, 'library'),
      source,
      path: stringOption(options, 'path'),
      profile,
      selection: profile === undefined ? filterGroups(filters) : undefined,
      max: numberOption(options, 'max'),
      keyringFiles: listOption(options, 'keyring'),
      site: stringOption(options, 'site'),
      since: stringOption(options, 'since'),
      volumeSize: parseSizeOption(exportCommand, 'volume-size', stringOption(options, 'volume-size')),
      partSize,
      layout,
      dryRun: flagOption(options, 'dry-run'),
      eject: !flagOption(options, 'no-eject'),
    });
    const following = followJob(job, io, display.handle);
    // The verdict as soon as the plan is known, before anything is written (above the progress bar).
    const stopVerdict = json ? undefined : job.subscribe((event) => {
      if (event.type === 'export-verdict') display.note(verdictLines(event.plan).join('\n'));
    });
    // Subscribed after the display, so the display has cleared its bar before the question is written.
    const stopAsking = ask === undefined ? undefined : job.subscribe((event) => {
      if (event.type === 'target-needed') void askForNextDrive(job, event, ask, io, display);
    });
    try {
      const outcome = await following;
      display.finish();
      return reportExport(outcome, io, json);
    } finally {
      stopVerdict?.();
      stopAsking?.();
    }
  },
};

/**
 * Asks on the terminal for the folder the next drive is mounted at and hands it to the job; an
 * empty line asks again. Ctrl-C (io.signal) ends the question, and followJob pauses the job; a
 * terminal that closes pauses it too. A refused folder comes back as the next event, with its reason.
 * The display holds its bar off the prompt from the event on, and draws it again once answered.
 */
async function askForNextDrive(job: JobHandle<'export'>, event: Extract<JobEvent, { type: 'target-needed' }>, stdin: NodeJS.ReadableStream, io: CliIo, display: JobDisplay): Promise<void> {
  const lastDone = event.done.at(-1);
  if (event.problem !== null) io.stderr.write(`That folder cannot take volume ${event.volume}: ${event.problem}\n`);
  else if (lastDone !== undefined) io.stderr.write(`Volume ${lastDone.volume} of ${event.volumes} written and verified: ${lastDone.directory}\n`);
  const lines = createInterface({ input: stdin, output: io.stderr, terminal: false });
  let answered = false;
  lines.once('close', () => {
    if (!answered && !io.signal.aborted) job.pause('The terminal closed before the next drive was named; run the same export again to continue.');
  });
  try {
    for (;;) {
      const answer = (
        await lines.question(
          `Volume ${event.volume} of ${event.volumes} needs ${formatBytes(event.bytes)}: insert the next drive and type the folder it is mounted at (or Ctrl-C to stop; a rerun continues): `,
          { signal: io.signal },
        )
      ).trim();
      if (answer === '') continue;
      answered = true;
      display.resume();
      job.provideTarget(answer);
      return;
    }
  } catch {
    // Ctrl-C or a closed terminal: the job is paused (followJob, or the close above) and says so.
  } finally {
    lines.close();
  }
}

/** 3 when a blob read back wrong; 1 when the bundle is whole but its drive could not be ejected. */
function exportExitCode(outcome: ExportOutcome): number {
  if ((outcome.verified?.bad ?? []).length > 0) return ExitCode.verificationFailed;
  const kind = outcome.ejected?.kind;
  return kind === 'busy' || kind === 'failed' ? ExitCode.failure : ExitCode.ok;
}

/** The verdict for people: what is carried, the space it needs, the volumes; a Note line per warning. */
function verdictLines(plan: ExportPlanSummary): string[] {
  return [
    `Verdict: ${plan.files} file(s), ${plan.blobsCarried} of ${plan.blobs} blob(s) carried (${formatBytes(plan.bytesCarried)})` +
      `${plan.base === null ? '' : plan.base.kind === 'site' ? `, incremental: only what the site lacks after bundle ${plan.base.id}` : `, incremental: only what receipt ${plan.base.id} does not list`}; ` +
      `needs ${formatBytes(plan.bytesNeeded)} + ${formatBytes(plan.marginBytes)} margin, ${plan.freeBytes === null ? 'free space unknown' : `${formatBytes(plan.freeBytes)} free`} on ${plan.fsType}; ` +
      `${plan.volumes} volume(s), ${plan.splitBlobs} blob(s) in parts.`,
    ...plan.warnings.map((warning) => `Note: ${warning}`),
  ];
}

function reportExport(outcome: ExportOutcome, io: CliIo, json: boolean): number {
  const bad = outcome.verified?.bad ?? [];
  const exitCode = exportExitCode(outcome);
  if (json) {
    io.stdout.write(`${JSON.stringify({ type: 'result', exitCode, ...outcome })}\n`);
    return exitCode;
  }
  // The verdict was printed when the export gave it (export-verdict), before the writing.
  for (const signature of outcome.signatures) io.stderr.write(`Signed: ${signature.path} by ${signature.keyFingerprint} on ${signature.signedAt}\n`);
  for (const warning of outcome.trustWarnings) io.stderr.write(`${trustWarningWords(warning)}\n`);
  if (outcome.dryRun) {
    io.stderr.write('Dry run: nothing was written.\n');
    return exitCode;
  }
  const written = outcome.written;
  if (written !== null) {
    io.stderr.write(`Written: ${written.blobsWritten} file(s) (${formatBytes(written.bytesWritten)}); ${written.blobsKept} already there and verified.\n`);
  }
  const verified = outcome.verified;
  if (verified !== null) {
    const how = verified.method === 'direct' ? 'around the page cache (O_DIRECT)' : verified.method === 'cached' ? 'through the page cache (the file system refused O_DIRECT)' : 'partly around the page cache';
    // More files than were written: the count includes the bundle's own files (SHA256SUMS, bundle.json...) and each part.
    if (bad.length === 0) io.stderr.write(`Verified: ${verified.files} file(s) (${formatBytes(verified.bytes)}; blobs, parts and the bundle's own files) read back ${how}.\n`);
    else {
      io.stderr.write(`Written, but ${bad.length} file(s) read back wrong; the drive may be failing. Export again to another drive:\n`);
      for (const file of bad) io.stderr.write(`  ${file.path}: expected ${file.expected}, read ${file.actual}\n`);
    }
  }
  if (outcome.ledgerSite !== null) io.stderr.write(`Recorded as exported to site ${outcome.ledgerSite}.\n`);
  const ejected = outcome.ejected;
  if (ejected !== null) io.stderr.write(`Written and verified; ${ejected.kind === 'not-requested' ? 'not ejected (--no-eject): unmount the drive before removing it' : ejectWords(ejected)}.\n`);
  for (const directory of outcome.directories) io.stdout.write(`${directory}\n`);
  return exitCode;
}
