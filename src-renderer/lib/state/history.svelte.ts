// The History screen: the engine's jobs (running, paused, ended), the library's exports, the receipts
// written or read, and each export's audit log, newest first, each exportable as JSON.
import { toClientError, type AuditRecord, type ClientError, type ExportRecordData, type FerryClient, type JobStatus, type ReceiptRecord } from '../client.js';

/** A job's last word for the history table: its failure's or stop's message, or its state. */
export function jobResult(job: JobStatus): string {
  const outcome = job.outcome;
  if (outcome === undefined || outcome.type === 'result') return job.state;
  return `${job.state}: ${outcome.type === 'failed' ? outcome.error.message : outcome.reason.message}`;
}

/** Where a job wrote or read, from its input: an export's target, an import's tree, the bundles verified. */
export function jobPlace(job: JobStatus): string {
  const input = job.input;
  if ('to' in input) return input.to;
  if ('target' in input) return input.target;
  if ('bundles' in input) return input.bundles.join(', ');
  return 'library' in input && input.library !== undefined ? input.library : '';
}

/** The History screen's sections, each saved as its own JSON file. */
export type HistorySection = 'jobs' | 'exports' | 'receipts' | 'audit';

/** One line of an export's audit log as the table shows it: what happened, when, and the rest of its fields. */
export function auditLine(entry: Readonly<Record<string, unknown>>): { event: string; at: string; detail: string } {
  const { event, at, ...rest } = entry;
  const detail = Object.entries(rest)
    .filter(([key]) => key !== 'tool')
    .map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join('; ');
  return { event: typeof event === 'string' ? event : '?', at: typeof at === 'string' ? at : '', detail };
}

export class HistoryState {
  readonly #client: FerryClient;
  /** The library the Plan screen syncs into (empty: the engine's default), whose exports ledger is read. */
  readonly #library: () => string;
  #jobs = $state.raw<JobStatus[]>([]);
  #exports = $state.raw<ExportRecordData[]>([]);
  #receipts = $state.raw<ReceiptRecord[]>([]);
  #audit = $state.raw<AuditRecord[]>([]);
  #errors = $state.raw<Partial<Record<HistorySection, ClientError>>>({});

  constructor(client: FerryClient, library: () => string) {
    this.#client = client;
    this.#library = library;
  }

  get jobs(): readonly JobStatus[] { return this.#jobs; }
  /** The library's exports ledger, newest first. */
  get exports(): readonly ExportRecordData[] { return this.#exports; }
  /** Receipt files written here or read by an export, newest first, as they read now. */
  get receipts(): readonly ReceiptRecord[] { return this.#receipts; }
  /** Each export's audit.jsonl, newest first. */
  get audit(): readonly AuditRecord[] { return this.#audit; }
  /** Why a section could not be read (the library busy with a sync, say); the others still show. */
  get errors(): Readonly<Partial<Record<HistorySection, ClientError>>> { return this.#errors; }

  async refresh(): Promise<void> {
    const library = this.#library().trim();
    const errors: Partial<Record<HistorySection, ClientError>> = {};
    const read = async <T>(section: HistorySection, call: () => Promise<T>, keep: (value: T) => void): Promise<void> => {
      try {
        keep(await call());
      } catch (error) {
        errors[section] = toClientError(error);
      }
    };
    await Promise.all([
      read('jobs', () => this.#client.jobs(), (jobs) => { this.#jobs = [...jobs].sort((a, b) => b.startedAt.localeCompare(a.startedAt)); }),
      read('exports', () => this.#client.exports(library === '' ? {} : { library }), (exports) => { this.#exports = exports; }),
      read('receipts', () => this.#client.receipts(), (receipts) => { this.#receipts = receipts; }),
      read('audit', () => this.#client.audit(), (audit) => { this.#audit = audit; }),
    ]);
    this.#errors = errors;
  }

  /** One section (or, with 'all', every section) as a JSON document, for an auditor (prior art §0.8). */
  exportJson(section: HistorySection | 'all'): string {
    const sections = { jobs: this.#jobs, exports: this.#exports, receipts: this.#receipts, audit: this.#audit };
    const chosen = section === 'all' ? sections : { [section]: sections[section] };
    return JSON.stringify({ exportedAt: new Date().toISOString(), ...chosen }, null, 2);
  }
}
