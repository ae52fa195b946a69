// The Plan and Sync screens: what a sync of the catalog's selection would do, then doing it. The
// plan is a dry run of the very input the sync gets, so what the operator approved is what runs;
// Sync cannot start before a plan exists for the current selection (issue 10 §3).
import type { SyncOutcome } from '../../../src-main/contract/index.js';
import { toClientError, type ClientError, type FerryClient, type LibrarySpace, type LibrarySummary, type PlanSummary, type SyncInput } from '../client.js';
import { formatBytes } from '../format.js';
import type { CatalogState } from './catalog.svelte.js';
import { JobRun } from './job.svelte.js';

export class TransferState {
  readonly #client: FerryClient;
  readonly #catalog: CatalogState;
  #library = $state('');
  #plan = $state.raw<PlanSummary | undefined>(undefined);
  #planned = $state.raw<string | undefined>(undefined);
  #planning = $state(false);
  #librarySummary = $state.raw<LibrarySummary | undefined>(undefined);
  #space = $state.raw<LibrarySpace | undefined>(undefined);
  #error = $state.raw<ClientError | undefined>(undefined);
  readonly sync: JobRun<'sync'>;

  constructor(client: FerryClient, catalog: CatalogState) {
    this.#client = client;
    this.#catalog = catalog;
    this.sync = new JobRun(client, 'sync');
  }

  /** The library folder; empty: the engine's default ($FERRY_LIBRARY or the platform's data folder). */
  get library(): string { return this.#library; }
  set library(value: string) { this.#library = value; }
  get plan(): PlanSummary | undefined { return this.#plan; }
  get planning(): boolean { return this.#planning; }
  get error(): ClientError | undefined { return this.#error; }
  get librarySummary(): LibrarySummary | undefined { return this.#librarySummary; }
  /** The free space of the library's file system, measured with the plan. */
  get space(): LibrarySpace | undefined { return this.#space; }

  /**
   * The plan's downloads do not fit in the library's free space: the sync would be refused at its
   * start (FERRY_NOT_ENOUGH_SPACE, the engine's own check of the same numbers), so it is refused
   * here before it starts, with what to do. undefined when it fits or the space is unknown.
   */
  get notEnoughSpace(): ClientError | undefined {
    const free = this.#space?.freeBytes;
    const plan = this.#plan;
    if (free == null || plan === undefined || plan.bytesToFetch <= free) return undefined;
    return {
      code: 'FERRY_NOT_ENOUGH_SPACE',
      message: `Not enough space: the sync downloads ${formatBytes(plan.bytesToFetch)} but only ${formatBytes(free)} is free on the library's disk (${this.#space?.mountPoint ?? ''}).`,
      hint: 'Free some space there, choose a library folder on a larger disk, or select fewer products or versions.',
    };
  }
  get outcome(): SyncOutcome | undefined { return this.sync.result(); }

  /** The sync the catalog describes, or why there is none yet. */
  get input(): SyncInput | string {
    const streamId = this.#catalog.streamId;
    if (streamId === undefined) return 'Load a source first (Source screen).';
    const selection = this.#catalog.groups;
    if (selection.length === 0) return 'Nothing is selected: tick products in the Catalog, or type filter lines there.';
    const profile = this.#catalog.profile.trim();
    return {
      stream: { streamId },
      selection,
      ...(this.#catalog.max === undefined ? {} : { max: this.#catalog.max }),
      ...(this.#library.trim() === '' ? {} : { library: this.#library.trim() }),
      ...(profile === '' ? {} : { profile }),
    };
  }

  /** True when the plan shown is the plan of the current selection, so Sync may start. */
  get planIsCurrent(): boolean {
    const input = this.input;
    return this.#plan !== undefined && typeof input !== 'string' && this.#planned === JSON.stringify(input);
  }

  /** Files the plan keeps without fetching: wanted, minus what must be fetched. */
  get alreadyPresent(): { files: number; bytes: number } | undefined {
    const plan = this.#plan;
    return plan === undefined ? undefined : { files: plan.filesWanted - plan.filesToFetch, bytes: plan.bytesWanted - plan.bytesToFetch };
  }

  async makePlan(): Promise<void> {
    const input = this.input;
    if (typeof input === 'string') {
      this.#error = { code: 'FERRY_INPUT_INVALID', message: input };
      return;
    }
    this.#planning = true;
    this.#error = undefined;
    try {
      const [plan, summary, space] = await Promise.all([
        this.#client.plan('sync', input),
        this.#client.librarySummary({ library: input.library }),
        this.#client.librarySpace({ library: input.library }),
      ]);
      this.#plan = plan;
      this.#librarySummary = summary;
      this.#space = space;
      this.#planned = JSON.stringify(input);
    } catch (error) {
      this.#error = toClientError(error);
    } finally {
      this.#planning = false;
    }
  }

  async startSync(): Promise<void> {
    const input = this.input;
    if (typeof input === 'string' || !this.planIsCurrent || this.notEnoughSpace !== undefined) return;
    await this.sync.start(input);
  }
}
