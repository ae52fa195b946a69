import type { FerryErrorCode } from '../engine/index.js';

/** Exit statuses of `ferry`; documented in `ferry --help` and the README. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  verificationFailed: 3,
  /** `ferry import`: files still missing (other volumes, or an incremental bundle's base), as import.sh exits. */
  incomplete: 4,
  cancelled: 130,
  /** 128 + 15, as shells report a process ended by SIGTERM. */
  terminated: 143,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

const verificationCodes: ReadonlySet<FerryErrorCode> = new Set<FerryErrorCode>([
  'FERRY_SIG_MISSING',
  'FERRY_SIG_UNKNOWN_KEY',
  'FERRY_SIG_BAD',
  'FERRY_SIG_MALFORMED',
  'FERRY_SIG_FUTURE',
  'FERRY_SIG_EXPIRED',
  'FERRY_SIG_KEY_INVALID',
  'FERRY_SIG_KEY_EXPIRED',
  'FERRY_SIG_KEY_REVOKED',
  'FERRY_SIG_WEAK_HASH',
  'FERRY_BUNDLE_KEY_UNTRUSTED',
  'FERRY_HASH_MISMATCH',
  'FERRY_SIZE_MISMATCH',
]);

// A filter, a setting or an input the engine refuses comes from the command line, so the CLI
// reports them as usage errors.
const usageCodes: ReadonlySet<FerryErrorCode> = new Set<FerryErrorCode>(['FERRY_USAGE', 'FERRY_FILTER_INVALID', 'FERRY_SETTING_INVALID', 'FERRY_INPUT_INVALID']);

export function exitCodeFor(code: FerryErrorCode): ExitCodeValue {
  if (code === 'FERRY_CANCELLED') return ExitCode.cancelled;
  if (verificationCodes.has(code)) return ExitCode.verificationFailed;
  if (usageCodes.has(code)) return ExitCode.usage;
  return ExitCode.failure;
}

export const exitCodeHelp = [
  '0    everything asked for was done and verified',
  '1    something failed (the summary names each file and the cause)',
  '2    the command line was wrong',
  '3    a signature, size or checksum did not verify',
  '4    ferry import: files still missing (other volumes); the metadata waits (as import.sh)',
  '130  cancelled (Ctrl-C); a rerun resumes',
  '143  stopped by SIGTERM; a rerun resumes (serve exits 0)',
];
