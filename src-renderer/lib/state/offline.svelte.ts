// The Offline screen, on the air-gapped side: the engine's verify and import jobs (`ferry verify`,
// `ferry import`) with the screen's own keyring, then a receipt of the imported tree to carry back
// (receipts.write, `ferry receipt`) and the commands that serve the tree to MAAS.
import { commandLine } from '../format.js';
import { toClientError, type ClientError, type FerryClient, type Receipt } from '../client.js';
import { JobRun } from './job.svelte.js';
import { keyringLines } from './source.svelte.js';

/** A shell line for each MAAS command, in order, with what it is for. */
export interface CommandLine {
  purpose: string;
  line: string;
}

export class OfflineState {
  readonly #client: FerryClient;
  #bundle = $state('');
  #target = $state('');
  #keyring = $state('');
  #receiptOut = $state('');
  #site = $state('');
  #receipt = $state.raw<{ out: string; receipt: Receipt } | undefined>(undefined);
  #receiptError = $state.raw<ClientError | undefined>(undefined);
  #writingReceipt = $state(false);
  readonly verify: JobRun<'verify'>;
  readonly import: JobRun<'import'>;

  constructor(client: FerryClient) {
    this.#client = client;
    this.verify = new JobRun(client, 'verify');
    this.import = new JobRun(client, 'import');
  }

  /** The bundle's folder (on the drive, or copied off it): `FERRY/<bundle id>/` or a folder holding it. */
  get bundle(): string { return this.#bundle; }
  set bundle(value: string) { this.#bundle = value; }
  /** The mirror tree to build or update. */
  get target(): string { return this.#target; }
  set target(value: string) { this.#target = value; }
  /**
   * Keyring files the bundle's signatures are checked with, one a line; empty: the Ubuntu cloud
   * image keyring bundled with Stream Ferry, as `ferry verify` and `ferry import` default. This
   * side of the gap has its own: the Source screen's keyring is the online laptop's, and a
   * bundle's own keyrings/ are never trusted by default (a tampered drive can carry its forger's key).
   */
  get keyring(): string { return this.#keyring; }
  set keyring(value: string) { this.#keyring = value; }
  /** Where the receipt of the imported tree goes. */
  get receiptOut(): string { return this.#receiptOut; }
  set receiptOut(value: string) { this.#receiptOut = value; }
  /** The site's name, written into the receipt (optional). */
  get site(): string { return this.#site; }
  set site(value: string) { this.#site = value; }
  get receipt(): { out: string; receipt: Receipt } | undefined { return this.#receipt; }
  get receiptError(): ClientError | undefined { return this.#receiptError; }
  get writingReceipt(): boolean { return this.#writingReceipt; }
  get verifyOutcome(): ReturnType<JobRun<'verify'>['result']> { return this.verify.result(); }
  get importOutcome(): ReturnType<JobRun<'import'>['result']> { return this.import.result(); }

  /** The command that serves the imported tree to MAAS over HTTP, on the port the MAAS commands' URL guesses. */
  get serveCommand(): string {
    return commandLine(['ferry', 'serve', this.#target.trim() === '' ? 'MIRROR_DIR' : this.#target.trim(), '--bind', '0.0.0.0', '--port', '8080']);
  }

  /** The MAAS commands of a complete import, each as a line to paste into a shell. */
  get maasCommands(): CommandLine[] {
    return (this.importOutcome?.maas?.commands ?? []).map((command) => ({ purpose: command.purpose, line: commandLine(command.argv) }));
  }

  /** Fills the keyring from the page's query (`?keyring=FILE`), as `npm run demo -- --ui` opens it. */
  prefill(query: URLSearchParams): void {
    this.#keyring = query.get('keyring') ?? '';
  }

  #bundleKeyring(): { keyringFiles?: string[] } {
    const keyringFiles = keyringLines(this.#keyring);
    return keyringFiles.length === 0 ? {} : { keyringFiles };
  }

  async runVerify(): Promise<void> {
    await this.verify.start({ bundles: [this.#bundle.trim()], ...this.#bundleKeyring() });
  }

  async runImport(): Promise<void> {
    const target = this.#target.trim();
    await this.import.start({ bundles: [this.#bundle.trim()], target, ...this.#bundleKeyring() });
    if (this.importOutcome?.complete === true && this.#receiptOut.trim() === '') this.#receiptOut = `${target.replace(/\/+$/, '')}.receipt.json`;
  }

  /**
   * Hashes what the imported tree holds and writes its receipt (`ferry receipt`), to carry back so
   * the next export carries only what this site lacks.
   */
  async writeReceipt(): Promise<void> {
    const out = this.#receiptOut.trim();
    const dir = this.#target.trim();
    if (dir === '' || out === '') {
      this.#receiptError = { code: 'FERRY_INPUT_INVALID', message: 'Type the mirror folder (Import) and where the receipt goes.' };
      return;
    }
    this.#writingReceipt = true;
    this.#receiptError = undefined;
    try {
      const site = this.#site.trim();
      this.#receipt = { out, receipt: await this.#client.writeReceipt({ dir, out, ...(site === '' ? {} : { site }) }) };
    } catch (error) {
      this.#receiptError = toClientError(error);
    } finally {
      this.#writingReceipt = false;
    }
  }
}
