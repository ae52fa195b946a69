// The Source screen: which stream, which keyring, which proxy, and whether what was loaded is
// signed. Loading is the engine's `load` job; its outcome's streamId feeds the catalog and plan.
import type { LoadOutcome, SignatureFact, StreamInput, StreamTrust } from '../../../src-main/contract/index.js';
import { formatTime } from '../format.js';
import type { FerryClient } from '../client.js';
import { JobRun } from './job.svelte.js';

export type Preset = 'stable' | 'candidate' | 'custom';

export const PRESETS: ReadonlyArray<{ id: Preset; label: string; detail: string }> = [
  { id: 'stable', label: 'MAAS stable', detail: 'images.maas.io/ephemeral-v3/stable' },
  { id: 'candidate', label: 'MAAS candidate', detail: 'images.maas.io/ephemeral-v3/candidate' },
  { id: 'custom', label: 'Custom URL', detail: 'an http(s) or file URL, or a folder on this machine' },
];

/** One verified signature as the banner lists it: the file, when upstream signed it, and by which key. */
export interface SignatureLine {
  path: string;
  /** The signature's creation time, in the operator's local time, and how long ago. */
  signed: string;
  key: string;
}

/** What the verification banner says: one line of plain words, how loud, and each file's signature. */
export interface TrustNotice {
  level: 'ok' | 'warning' | 'danger';
  title: string;
  details: string[];
  signatures: SignatureLine[];
}

/** Keyring file paths typed one a line, blank lines dropped. */
export function keyringLines(text: string): string[] {
  return text.split('\n').map((line) => line.trim()).filter((line) => line !== '');
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** How long before `now` an ISO 8601 time was, in whole days: "today", "1 day ago", "12 days ago". */
export function daysAgo(iso: string, now: Date): string {
  const days = Math.floor((now.getTime() - new Date(iso).getTime()) / DAY_MS);
  if (days <= 0) return 'today';
  return days === 1 ? '1 day ago' : `${days} days ago`;
}

/**
 * The banner for a loaded stream: who signed (`trust.signers`) and when (each file's signature,
 * `signatures`, the load outcome's), or a loud NOT VERIFIED when nothing was checked.
 */
export function describeTrust(trust: StreamTrust, signatures: readonly SignatureFact[], now = new Date()): TrustNotice {
  switch (trust.kind) {
    case 'verified': {
      const times = signatures.map((signature) => signature.signedAt).sort();
      const newest = times.at(-1);
      const oldest = times[0];
      const when = newest === undefined || oldest === undefined ? [] : [oldest === newest ? `Upstream signed on ${formatTime(newest)} (${daysAgo(newest, now)})` : `Upstream signed between ${formatTime(oldest)} and ${formatTime(newest)} (newest ${daysAgo(newest, now)})`];
      const details = [
        `Signed by key ${trust.signers.join(', ')}`,
        ...when,
        `Checked against ${trust.keyringFiles.length === 0 ? 'the bundled Ubuntu cloud image keyring' : trust.keyringFiles.join(', ')}`,
        ...trust.expiredKeys.map((key) => `Key ${key.fingerprint} expired on ${key.expiredAt}: ask upstream for its new key before you trust new images`),
      ];
      const lines = signatures.map((signature) => ({ path: signature.path, signed: `${formatTime(signature.signedAt)} (${daysAgo(signature.signedAt, now)})`, key: signature.keyFingerprint }));
      return { level: trust.expiredKeys.length > 0 ? 'warning' : 'ok', title: 'Verified: every metadata file carries a good signature', details, signatures: lines };
    }
    case 'unsigned-source':
      return { level: 'danger', title: 'NOT VERIFIED: this source publishes no signatures', details: ['Anyone who can change the files on the way could change the images. Use a signed source (.sjson) for anything you boot.'], signatures: [] };
    case 'skipped':
      return { level: 'danger', title: 'NOT VERIFIED: signature checks were turned off', details: ['Turn "Check signatures" back on and load again before you sync.'], signatures: [] };
  }
}

export class SourceState {
  #preset = $state<Preset>('stable');
  #customUrl = $state('');
  #keyring = $state('');
  #proxy = $state('');
  #verify = $state(true);
  readonly load: JobRun<'load'>;

  constructor(client: FerryClient) {
    this.load = new JobRun(client, 'load');
  }

  get preset(): Preset { return this.#preset; }
  set preset(value: Preset) { this.#preset = value; }
  get customUrl(): string { return this.#customUrl; }
  set customUrl(value: string) { this.#customUrl = value; }
  /** Keyring file paths, one a line; empty: the bundled Ubuntu keyring. */
  get keyring(): string { return this.#keyring; }
  set keyring(value: string) { this.#keyring = value; }
  get proxy(): string { return this.#proxy; }
  set proxy(value: string) { this.#proxy = value; }
  get verify(): boolean { return this.#verify; }
  set verify(value: boolean) { this.#verify = value; }

  get loaded(): LoadOutcome | undefined { return this.load.result(); }
  get trust(): TrustNotice | undefined {
    const loaded = this.loaded;
    return loaded === undefined ? undefined : describeTrust(loaded.trust, loaded.signatures);
  }

  /** What is wrong with the form before anything is sent, or undefined. */
  get problem(): string | undefined {
    if (this.#preset === 'custom' && this.#customUrl.trim() === '') return 'Type the URL or folder of the stream, or pick a preset.';
    return undefined;
  }

  get input(): StreamInput {
    const keyringFiles = keyringLines(this.#keyring);
    return {
      source: this.#preset === 'custom' ? this.#customUrl.trim() : this.#preset,
      ...(keyringFiles.length > 0 ? { keyringFiles } : {}),
      ...(this.#proxy.trim() !== '' ? { proxy: this.#proxy.trim() } : {}),
      verify: this.#verify,
    };
  }

  /** Fills the form from the page's query (`?source=URL&keyring=FILE`), as `npm run demo -- --ui` opens it. */
  prefill(query: URLSearchParams): void {
    const source = query.get('source');
    if (source === null) return;
    this.#preset = source === 'stable' || source === 'candidate' ? source : 'custom';
    if (this.#preset === 'custom') this.#customUrl = source;
    this.#keyring = query.get('keyring') ?? '';
  }

  async submit(): Promise<boolean> {
    if (this.problem !== undefined) return false;
    const outcome = await this.load.start(this.input);
    return outcome?.type === 'result';
  }
}
