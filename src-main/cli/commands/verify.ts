import { createEngine, type BundleBlobProblem, type BundleSummary, type JobHandle, type JobOutcomes, type VerifyOutcome } from '../../engine/index.js';
import { flagOption, listOption, usageError, type CliIo, type CommandDefinition, type ParsedOptions } from '../command.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes } from '../../base/format.js';
import { JobDisplay, displayModeFor, followJob } from '../progress-display.js';
import { trustWarningLines } from './source-options.js';

/** `--keyring FILE`: shared by verify, import and serve of a bundle. */
export const bundleKeyringOption = {
  name: 'keyring',
  type: 'strings',
  valueName: 'FILE',
  description: "keyring to verify the bundle's signed metadata with (default: the bundled Ubuntu cloud image keyring); may be a file of the bundle's keyrings/ you have checked",
} as const;

/** `--json` and `--progress` of verify and import: how their job is shown, as ferry export shows its own. */
export const bundleDisplayOptions = [
  { name: 'json', type: 'boolean', description: 'print one JSON event per line on stdout (the last is the result)' },
  { name: 'progress', type: 'boolean', description: 'print progress lines even when stderr is not a terminal' },
] as const;

/**
 * Follows a verify or import job with the live display (a terminal), plain progress lines
 * (--progress) or JSON event lines (--json), as mirror and export do; then prints the outcome:
 * the result line in JSON, else the trust warnings on stderr and `describe(outcome)` on stdout.
 */
export async function followBundleJob<K extends 'verify' | 'import'>(
  job: JobHandle<K>,
  options: ParsedOptions,
  io: CliIo,
  describe: (outcome: JobOutcomes[K]) => string,
  exitCodeOf: (outcome: JobOutcomes[K]) => number,
): Promise<number> {
  const json = flagOption(options, 'json');
  const display = new JobDisplay(io, displayModeFor(io, { json, progress: flagOption(options, 'progress'), quiet: false }), 0);
  let outcome: JobOutcomes[K];
  try {
    outcome = await followJob(job, io, display.handle);
  } finally {
    display.finish();
  }
  const exitCode = exitCodeOf(outcome);
  if (json) io.stdout.write(`${JSON.stringify({ type: 'result', exitCode, ...outcome })}\n`);
  else {
    writeTrustWarnings(outcome, io);
    io.stdout.write(describe(outcome));
  }
  return exitCode;
}

/** `--trust-bundle-keyrings`: shared by verify, import and serve of a bundle. */
export const trustBundleKeyringsOption = {
  name: 'trust-bundle-keyrings',
  type: 'boolean',
  description:
    "also trust the keyrings the bundle carries in keyrings/; anyone who could change the drive could have put their own key there, so compare its fingerprints with the publisher's first",
} as const;

export const verifyCommand: CommandDefinition = {
  name: 'verify',
  summary: 'Check a bundle: its signatures, then every blob against its manifest',
  usage: ['BUNDLE... [--json | --progress] [--keyring FILE] [--trust-bundle-keyrings]'],
  description: [
    "BUNDLE is a bundle's directory (holding bundle.json) or a folder holding FERRY/<bundle id>/, such as",
    'a mounted drive. Give every volume of a multi-volume bundle, in any order. Signatures come first:',
    "upstream's signed metadata is verified with the bundled Ubuntu cloud image keyring (or --keyring; the",
    "bundle's own keyrings/ only with --trust-bundle-keyrings or named with --keyring), and every file",
    'bundle.json lists must be one the signed metadata lists with the same size and sha256. Then every',
    'blob and part is read and re-hashed. Complete (every blob present) and valid (every hash',
    'matches) are reported apart, naming each missing or bad blob and the files it is for.',
    'Exit status: 0 complete and valid; 3 a signature or a blob did not verify; 1 incomplete.',
  ],
  options: [...bundleDisplayOptions, bundleKeyringOption, trustBundleKeyringsOption],
  examples: ['ferry verify /media/usb', 'ferry verify /media/usb1/FERRY/20261130T054000Z-3fa9c2d1 /media/usb2'],
  async run(options, positionals, io) {
    if (positionals.length === 0) throw usageError(verifyCommand, 'ferry verify takes one or more BUNDLE paths.');
    const engine = createEngine({ env: io.env, cwd: io.cwd });
    const job = engine.startJob('verify', { bundles: positionals, keyringFiles: listOption(options, 'keyring'), trustBundleKeyrings: flagOption(options, 'trust-bundle-keyrings') });
    return followBundleJob(job, options, io, describeVerify, (outcome) => (!outcome.valid ? ExitCode.verificationFailed : outcome.complete ? ExitCode.ok : ExitCode.failure));
  },
};

/** The signatures' age and the keyrings' expiring keys, on stderr as mirror prints them (in --json they are the outcome's trust.warnings). */
export function writeTrustWarnings(summary: BundleSummary, io: CliIo): void {
  if (summary.trust.kind === 'verified') for (const line of trustWarningLines(summary.trust)) io.stderr.write(line);
}

/** The bundle, its volumes and who signed its metadata when: the opening lines of verify and import. */
export function describeBundle(summary: BundleSummary): string {
  const lines = [`Bundle ${summary.bundleId}, created ${summary.created}; volume(s) ${summary.volumes.given.join(', ')} of ${summary.volumes.count} given.`];
  if (summary.volumes.missing.length > 0) lines.push(`Missing volume(s): ${summary.volumes.missing.join(', ')} of ${summary.volumes.count}.`);
  if (summary.base !== null) lines.push(`Incremental: built on ${summary.base.kind} ${summary.base.id}.`);
  if (summary.trust.kind === 'verified') {
    for (const signature of summary.signatures) lines.push(`Signature good: ${signature.path} signed by ${signature.keyFingerprint} at ${signature.signedAt}.`);
    lines.push(`Keyring(s) used: ${summary.trust.keyringFiles.join(', ')}.`);
  } else {
    lines.push('NOT VERIFIED: the bundle\'s metadata starts from an unsigned .json index; no signature was checked.');
  }
  return `${lines.join('\n')}\n`;
}

export function describeProblem(verb: string, problem: BundleBlobProblem): string {
  const stored = problem.storagePath === null ? '' : ` (${problem.storagePath}${problem.volume === null ? '' : ` on volume ${problem.volume}`})`;
  return `${verb} blob ${problem.sha256}${stored} for ${problem.paths.join(', ')}: ${problem.error.message} (${problem.error.code})\n`;
}

function describeVerify(outcome: VerifyOutcome): string {
  const lines = [describeBundle(outcome)];
  for (const problem of outcome.bad) lines.push(describeProblem('BAD', problem));
  for (const problem of outcome.missing) lines.push(describeProblem('MISSING', problem));
  if (outcome.atSite.length > 0) lines.push(`${outcome.atSite.length} blob(s) are not carried: the site holds them already (incremental bundle).\n`);
  lines.push(`Checked ${outcome.blobsChecked} blob(s), ${formatBytes(outcome.bytesChecked)}.\n`);
  lines.push(`Complete: ${outcome.complete ? 'yes' : 'NO'}. Valid: ${outcome.valid ? 'yes' : 'NO'}.\n`);
  return lines.join('');
}
