// The History screen: the engine's jobs (running, paused, ended), newest first, exportable as JSON.
import { toClientError, type ClientError, type FerryClient, type JobStatus } from '../client.js';

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

export class HistoryState {
  readonly #client: FerryClient;
  #jobs = $state.raw<JobStatus[]>([]);
  #error = $state.raw<ClientError | undefined>(undefined);

  constructor(client: FerryClient) {
    this.#client = client;
  }

  get jobs(): readonly JobStatus[] { return this.#jobs; }
  get error(): ClientError | undefined { return this.#error; }

  async refresh(): Promise<void> {
    try {
      const jobs = await this.#client.jobs();
      this.#jobs = [...jobs].sort((a, b) => b.startedAt.localeCompare(a.startedAt));
      this.#error = undefined;
    } catch (error) {
      this.#error = toClientError(error);
    }
  }

  /** The history as a JSON document, for an auditor (prior art §0.8). */
  exportJson(): string {
    return JSON.stringify({ exportedAt: new Date().toISOString(), jobs: this.#jobs }, null, 2);
  }
}
