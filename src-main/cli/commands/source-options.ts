import { JOB_DEFAULTS, type StreamInput, type StreamSettings, type StreamTrust } from '../../engine/index.js';
import { flagOption, listOption, numberOption, stringOption, usageError, type OptionDefinition, type ParsedOptions } from '../command.js';

/** Options shared by every command that reads a SimpleStreams source. */
export const sourceOptions: OptionDefinition[] = [
  { name: 'path', type: 'string', valueName: 'PATH', description: 'index or products file to start from, relative to the mirror (overrides detection)' },
  { name: 'keyring', type: 'strings', valueName: 'FILE', description: 'OpenPGP keyring (binary, armored, or a GnuPG keybox) to verify signatures with; default: the bundled Ubuntu cloud image keyring' },
  { name: 'no-verify', type: 'boolean', description: 'do not check signatures (said on every run)' },
  { name: 'proxy', type: 'string', valueName: 'URL', description: 'HTTP(S) proxy; default: HTTPS_PROXY / HTTP_PROXY, honouring NO_PROXY' },
  { name: 'ca-cert', type: 'strings', valueName: 'FILE', description: 'also trust this CA certificate (PEM) for https, e.g. a private CA; NODE_EXTRA_CA_CERTS works too' },
  {
    name: 'stall-timeout',
    type: 'number',
    valueName: 'SECONDS',
    description: 'give up on a request (then retry it) that waits this long for an answer or for data, or gets under 1 KiB/s',
    default: JOB_DEFAULTS.stallTimeoutMs / 1000,
  },
  {
    name: 'retries',
    type: 'number',
    valueName: 'N',
    description: 'retries of a failed request, metadata or file, each shown as it starts',
    default: JOB_DEFAULTS.retries,
  },
];

/** How the stream is reached and trusted (everything but SOURCE and --path). */
export function streamSettingsFrom(options: ParsedOptions): StreamSettings {
  const stallSeconds = numberOption(options, 'stall-timeout');
  const retries = numberOption(options, 'retries');
  if (stallSeconds !== undefined && stallSeconds < 1) throw usageError(undefined, '--stall-timeout takes a number of seconds, at least 1.');
  if (retries !== undefined && retries < 0) throw usageError(undefined, '--retries takes a number of retries, 0 or more.');
  return {
    keyringFiles: listOption(options, 'keyring'),
    verify: !flagOption(options, 'no-verify'),
    proxy: stringOption(options, 'proxy'),
    caCertFiles: listOption(options, 'ca-cert'),
    stallTimeoutMs: stallSeconds === undefined ? undefined : stallSeconds * 1000,
    retries,
  };
}

/** SOURCE with --path and the settings: a stream for a job to load. */
export function streamInputFrom(options: ParsedOptions, source: string): StreamInput {
  return { source, path: stringOption(options, 'path'), ...streamSettingsFrom(options) };
}

/** One line on stderr about what was (not) verified; an operator must never have to guess. */
export function trustNotice(trust: StreamTrust, source: string, files: number): string {
  switch (trust.kind) {
    case 'verified':
      return [
        `Verified ${files} signed metadata file(s) from ${source} (signed by ${trust.signers.join(', ')}).\n`,
        ...trust.expiredKeys.map(
          ({ fingerprint, expiredAt }) =>
            `WARNING: signing key ${fingerprint} expired on ${expiredAt}; its signatures were made before that and are still good (gpgv accepts them), but the publisher must renew the key.\n`,
        ),
      ].join('');
    case 'unsigned-source':
      return `NOT VERIFIED: ${source} starts from an unsigned .json file, so no signature was checked.\n`;
    case 'skipped':
      return `NOT VERIFIED: --no-verify was given; signatures of ${files} metadata file(s) were not checked.\n`;
  }
}
