import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { JOB_DEFAULTS, SOURCE_PRESET_NAMES, hostNameReading, type StreamInput, type StreamSettings, type StreamTrust } from '../../engine/index.js';
import { trustWarningWords } from '../trust-words.js';
import { didYouMean, flagOption, listOption, numberOption, stringOption, usageError, type CliIo, type OptionDefinition, type ParsedOptions } from '../command.js';

/** Options shared by every command that reads a SimpleStreams source. */
export const sourceOptions: OptionDefinition[] = [
  { name: 'path', type: 'string', valueName: 'PATH', description: 'index or products file to start from, relative to the mirror (overrides detection)' },
  { name: 'keyring', type: 'strings', valueName: 'FILE', description: 'OpenPGP keyring (binary, armored, or a GnuPG keybox) to verify signatures with; default: the bundled Ubuntu cloud image keyring' },
  { name: 'no-verify', short: 'U', type: 'boolean', description: 'do not check signatures (said on every run)' },
  { name: 'proxy', type: 'string', valueName: 'URL', description: 'HTTP(S) proxy; default: HTTPS_PROXY / HTTP_PROXY, honouring NO_PROXY' },
  { name: 'ca-cert', type: 'strings', valueName: 'FILE', description: 'also trust this CA certificate (PEM) for https, e.g. a private CA; NODE_EXTRA_CA_CERTS works too' },
  {
    name: 'stall-timeout',
    type: 'number',
    valueName: 'SECONDS',
    description: 'give up on a request (then retry it) that waits this long for an answer or for data, or gets under 1 KiB/s',
    default: JOB_DEFAULTS.stallTimeoutMs / 1000,
    min: 1,
  },
  {
    name: 'retries',
    type: 'number',
    valueName: 'N',
    description: 'retries of a failed request, metadata or file, each shown as it starts',
    default: JOB_DEFAULTS.retries,
    min: 0,
  },
  {
    name: 'log-file',
    type: 'string',
    valueName: 'FILE',
    description: "sstream's log destination",
    unsupported: 'ferry logs to stderr; use the shell instead: ferry ... 2>>FILE',
  },
];

/** How the stream is reached and trusted (everything but SOURCE and --path). */
export function streamSettingsFrom(options: ParsedOptions): StreamSettings {
  // Their lower bounds are checked when parsed (OptionDefinition.min).
  const stallSeconds = numberOption(options, 'stall-timeout');
  const retries = numberOption(options, 'retries');
  return {
    keyringFiles: listOption(options, 'keyring'),
    verify: !flagOption(options, 'no-verify'),
    proxy: stringOption(options, 'proxy'),
    caCertFiles: listOption(options, 'ca-cert'),
    stallTimeoutMs: stallSeconds === undefined ? undefined : stallSeconds * 1000,
    retries,
  };
}

/**
 * SOURCE with --path and the settings: a stream for a job to load. A SOURCE without a scheme that
 * starts with a host name (`images.maas.io/ephemeral-v3/stable`) and is no local path is read as
 * https, said in a note on stderr; a local directory of that name still wins, as for sstream.
 * Throws FERRY_USAGE for a mistyped preset (`stabel`) that names no local path either.
 */
export function streamInputFrom(options: ParsedOptions, source: string, io: Pick<CliIo, 'cwd' | 'stderr'>): StreamInput {
  const https = hostNameReading(source);
  const local = isAbsolute(source) ? source : resolve(io.cwd, source);
  const missingLocally = !existsSync(local);
  // A mistyped preset (`stabel`) would otherwise fail as a missing local directory.
  const preset = missingLocally && https === undefined && !source.includes(':') ? didYouMean(source, SOURCE_PRESET_NAMES) : '';
  if (preset !== '') throw usageError(undefined, `The source '${source}' is neither a preset nor a local path.${preset}`);
  const understood = https !== undefined && missingLocally ? https : source;
  if (understood !== source) {
    io.stderr.write(`Note: ${source} is not a local path; reading ${understood} (give ./${source} for a local directory).\n`);
  }
  return { source: understood, path: stringOption(options, 'path'), ...streamSettingsFrom(options) };
}

/**
 * The warning lines (each ending in a newline) of verified metadata: each signer whose key has
 * expired since, then the signatures' age and the keyring's expired or expiring keys not said above.
 * Printed on stderr by mirror, sync, query, verify and import.
 */
export function trustWarningLines(trust: Extract<StreamTrust, { kind: 'verified' }>): string[] {
  const expiredSigners = new Set(trust.expiredKeys.map(({ fingerprint }) => fingerprint));
  return [
    ...trust.expiredKeys.map(
      ({ fingerprint, expiredAt }) =>
        `WARNING: signing key ${fingerprint} expired on ${expiredAt}; its signatures were made before that and are still good (gpgv accepts them), but the publisher must renew the key.\n`,
    ),
    // A signer's expiry has its own line above.
    ...trust.warnings.filter((warning) => warning.kind !== 'key-expired' || !expiredSigners.has(warning.fingerprint)).map((warning) => `${trustWarningWords(warning)}\n`),
  ];
}

/** One line on stderr about what was (not) verified; an operator must never have to guess. */
export function trustNotice(trust: StreamTrust, source: string, files: number): string {
  switch (trust.kind) {
    case 'verified':
      return [`Verified ${files} signed metadata file(s) from ${source} (signed by ${trust.signers.join(', ')}).\n`, ...trustWarningLines(trust)].join('');
    case 'unsigned-source':
      return `NOT VERIFIED: ${source} starts from an unsigned .json file, so no signature was checked.\n`;
    case 'skipped':
      return `NOT VERIFIED: --no-verify was given; signatures of ${files} metadata file(s) were not checked.\n`;
  }
}
