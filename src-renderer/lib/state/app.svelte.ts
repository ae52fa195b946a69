// The whole app's state: one instance per window, made from one client, handed to the screens by
// context. The steps follow the operator's job from left to right; Plan comes before Sync and
// Sync stays closed until a plan of the current selection exists.
import { getContext, setContext } from 'svelte';
import type { FerryClient } from '../client.js';
import { CatalogState } from './catalog.svelte.js';
import { HistoryState } from './history.svelte.js';
import { ExportState } from './media.svelte.js';
import { OfflineState } from './offline.svelte.js';
import { SourceState } from './source.svelte.js';
import { TransferState } from './transfer.svelte.js';

export const SCREENS = [
  { id: 'source', label: 'Source' },
  { id: 'catalog', label: 'Catalog' },
  { id: 'plan', label: 'Plan' },
  { id: 'sync', label: 'Sync' },
  { id: 'export', label: 'Export' },
  { id: 'offline', label: 'Offline' },
  { id: 'history', label: 'History' },
] as const;

export type ScreenId = (typeof SCREENS)[number]['id'];

export class AppState {
  readonly source: SourceState;
  readonly catalog: CatalogState;
  readonly transfer: TransferState;
  readonly export: ExportState;
  readonly offline: OfflineState;
  readonly history: HistoryState;
  readonly #client: FerryClient;
  #screen = $state<ScreenId>('source');

  constructor(client: FerryClient) {
    this.#client = client;
    this.source = new SourceState(client);
    this.catalog = new CatalogState(client);
    this.transfer = new TransferState(client, this.catalog);
    // The export reads what the sync wrote: the loaded source's selection in the same library,
    // verified with the keyrings the source was loaded with (the bundle carries them).
    this.export = new ExportState(client, () => ({
      source: this.source.loaded?.source,
      keyringFiles: this.source.input.keyringFiles,
      library: this.transfer.library,
      selection: this.catalog.groups,
      max: this.catalog.max,
    }));
    this.offline = new OfflineState(client);
    this.history = new HistoryState(client, () => this.transfer.library);
  }

  get screen(): ScreenId { return this.#screen; }

  /** Why a screen cannot be opened yet, or undefined. */
  blocked(screen: ScreenId): string | undefined {
    if ((screen === 'catalog' || screen === 'plan') && this.catalog.streamId === undefined) return 'Load a source first.';
    if (screen === 'sync' && !this.transfer.planIsCurrent && this.transfer.sync.state === 'idle') return 'Review the plan first.';
    return undefined;
  }

  go(screen: ScreenId): void {
    if (this.blocked(screen) === undefined) this.#screen = screen;
    if (screen === 'history') void this.history.refresh();
  }

  /** Loads the source and, when it loaded, opens the catalog on it. */
  async loadSource(): Promise<void> {
    if (!(await this.source.submit())) return;
    const loaded = this.source.loaded;
    if (loaded === undefined) return;
    await this.catalog.open(loaded.streamId);
    void this.catalog.loadProfiles(this.transfer.library);
    this.go('catalog');
  }

  async startSync(): Promise<void> {
    this.go('sync');
    await this.transfer.startSync();
  }

  /** A tab opened while a sync runs follows it (jobs belong to the engine, not to a window). */
  async reattach(): Promise<void> {
    const running = (await this.#client.jobs()).find((job) => job.kind === 'sync' && job.state === 'running');
    if (running === undefined) return;
    this.transfer.sync.attach(running.id);
    this.#screen = 'sync';
  }
}

const KEY = Symbol('app');

export function setApp(app: AppState): AppState {
  return setContext(KEY, app);
}

export function getApp(): AppState {
  return getContext<AppState>(KEY);
}
