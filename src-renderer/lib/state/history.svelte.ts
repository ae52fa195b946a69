// The History screen: the engine's jobs (running, paused, ended), newest first, exportable as JSON.
import { toClientError, type ClientError, type FerryClient, type JobStatus } from '../client.js';

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
