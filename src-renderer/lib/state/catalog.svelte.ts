// The Catalog screen: every product of the loaded stream, grouped by OS / release / arch, and the
// selection as sstream filter groups. The filter text is the selection's one source of truth:
// clicks rewrite lines of it, typing in it changes what the table ticks, so the two never drift.
// Which products a selection picks is asked of the engine (products()), never re-implemented here.
import { formatBytes } from '../format.js';
import { argumentsToGroups, groupsToArguments, groupsToText, sameGroup, textToGroups } from '../selection.js';
import { toClientError, type ClientError, type FerryClient, type LibraryProfile, type ProductSummary, type SelectionAdvice, type SelectionGroups } from '../client.js';

/** Bootloaders are their own products file (prior art §0.3); this line picks all of them. */
export const BOOTLOADER_GROUP: readonly string[] = ['os~^(grub|pxelinux)'];

export interface GroupRow {
  kind: 'group';
  key: string;
  os: string;
  release: string;
  arch: string;
  products: number;
  bytes: number;
  kernels: string[];
  selectedProducts: number;
  /** This group's own line in the filter text. */
  line: string[];
}

export interface ProductRow {
  kind: 'product';
  key: string;
  product: ProductSummary;
  selected: boolean;
}

export type CatalogRow = GroupRow | ProductRow;

export function productKey(product: Pick<ProductSummary, 'contentId' | 'productName'>): string {
  return `${product.contentId} ${product.productName}`;
}

/** The filters that pick one OS / release / arch group: only the fields the products have. */
export function groupLine(product: Pick<ProductSummary, 'os' | 'release' | 'arch'>): string[] {
  return [
    ...(product.os === '' ? [] : [`os=${product.os}`]),
    ...(product.release === '' ? [] : [`release=${product.release}`]),
    ...(product.arch === '' ? [] : [`arch=${product.arch}`]),
  ];
}

/**
 * The engine's advice on a selection that matched nothing (catalog.advise: streams/diagnose.ts's
 * facts), in this screen's words: each line of the filter text is one group, so "use --or" reads
 * "put it on a line of its own". Empty when nothing stands out.
 */
export function adviceLines(advice: SelectionAdvice): string[] {
  const lines: string[] = [];
  const report = advice.noMatch;
  if (report !== undefined) {
    for (const { filter, key, nearestKeys } of report.unknownKeys) {
      lines.push(`${filter}: no item has the key '${key}'.${nearestKeys.length === 0 ? '' : ` Did you mean ${nearestKeys.join(' or ')}?`}`);
    }
    for (const { filter, key, nearestValues } of report.unmatchedValues) {
      lines.push(`${filter}: no item matches; values of '${key}' include ${nearestValues.join(', ')}.`);
    }
    for (const { filters, group } of report.sameKeyAlternatives) {
      lines.push(`${filters.join(' ')}: an item has one value of each key, so it cannot match all of these; for any of them, write: ${group.join(' ')}`);
    }
    for (const group of report.andedAlternatives) {
      lines.push(`${group.join(' ')}: each matches alone, but an item must match all filters of a line; for either, put each on a line of its own.`);
    }
  }
  if (advice.lacksBootloaders) lines.push('MAAS images are selected but no bootloader: tick "Include bootloaders", or MAAS cannot boot machines from this mirror.');
  return lines;
}

export class CatalogState {
  readonly #client: FerryClient;
  #streamId = $state<string | undefined>(undefined);
  #all = $state.raw<ProductSummary[]>([]);
  #selectedKeys = $state.raw<ReadonlySet<string>>(new Set());
  #text = $state(groupsToText([BOOTLOADER_GROUP as string[]]));
  #search = $state('');
  #max = $state<number | undefined>(1);
  #profile = $state('');
  #profiles = $state.raw<LibraryProfile[]>([]);
  #collapsed = $state.raw<ReadonlySet<string>>(new Set());
  #loading = $state(false);
  #error = $state.raw<ClientError | undefined>(undefined);
  #note = $state<string | undefined>(undefined);
  #advice = $state.raw<string[]>([]);
  #asked = 0;

  constructor(client: FerryClient) {
    this.#client = client;
  }

  get streamId(): string | undefined { return this.#streamId; }
  get loading(): boolean { return this.#loading; }
  get error(): ClientError | undefined { return this.#error; }
  /** Why a click did not change the selection (a broader line picks the product). */
  get note(): string | undefined { return this.#note; }
  /** Why the filter text selects nothing (the engine's catalog.advise), in this screen's words; empty otherwise. */
  get advice(): readonly string[] { return this.#advice; }
  get products(): readonly ProductSummary[] { return this.#all; }
  get text(): string { return this.#text; }
  set text(value: string) {
    this.#text = value;
    this.#note = undefined;
    void this.#refreshSelection();
  }
  get groups(): SelectionGroups { return textToGroups(this.#text); }
  get argumentsText(): string { return groupsToArguments(this.groups); }
  get search(): string { return this.#search; }
  set search(value: string) { this.#search = value; }
  /** Versions to keep of each product (sstream's --max); undefined keeps every version. */
  get max(): number | undefined { return this.#max; }
  set max(value: number | undefined) {
    this.#max = value === undefined || !Number.isInteger(value) || value < 1 ? undefined : value;
    void this.#refreshSelection();
  }
  /** A name to save this selection under with the sync (a profile), or empty. */
  get profile(): string { return this.#profile; }
  set profile(value: string) { this.#profile = value; }
  /** The library's saved selections (profiles.list). */
  get profiles(): readonly LibraryProfile[] { return this.#profiles; }

  /** Reads the saved selections of `library` (empty: the engine's default library). */
  async loadProfiles(library: string): Promise<void> {
    try {
      this.#profiles = await this.#client.profiles(library.trim() === '' ? {} : { library: library.trim() });
    } catch (error) {
      this.#error = toClientError(error);
    }
  }

  /** Puts a saved selection's filters and max in the form under its name, so the sync saves it again. */
  useProfile(profile: LibraryProfile): void {
    this.#profile = profile.name;
    this.#max = profile.max;
    this.text = groupsToText(argumentsToGroups(profile.filters));
  }
  get includesBootloaders(): boolean { return this.groups.some((group) => sameGroup(group, BOOTLOADER_GROUP)); }
  set includesBootloaders(value: boolean) { this.#toggleLine([...BOOTLOADER_GROUP], value); }

  readonly selected = $derived.by(() => this.#all.filter((product) => this.#selectedKeys.has(productKey(product))));
  readonly selectedBytes = $derived.by(() => this.selected.reduce((sum, product) => sum + product.latestVersionBytes * Math.min(this.#max ?? product.versions.length, product.versions.length), 0));
  get summary(): string {
    return `${this.selected.length} of ${this.#all.length} products selected, about ${formatBytes(this.selectedBytes)}`;
  }

  /** The table: a header row per OS / release / arch group, then its products unless collapsed. */
  readonly rows = $derived.by((): CatalogRow[] => {
    const needle = this.#search.trim().toLowerCase();
    const groups = new Map<string, { header: GroupRow; products: ProductRow[] }>();
    for (const product of this.#all) {
      if (needle !== '' && !`${product.productName} ${product.os} ${product.release} ${product.arch} ${product.kernel}`.toLowerCase().includes(needle)) continue;
      const key = `${product.os}/${product.release}/${product.arch}`;
      let group = groups.get(key);
      if (group === undefined) {
        group = { header: { kind: 'group', key, os: product.os, release: product.release, arch: product.arch, products: 0, bytes: 0, kernels: [], selectedProducts: 0, line: groupLine(product) }, products: [] };
        groups.set(key, group);
      }
      const selected = this.#selectedKeys.has(productKey(product));
      group.header.products += 1;
      group.header.bytes += product.latestVersionBytes;
      if (selected) group.header.selectedProducts += 1;
      if (product.kernel !== '' && !group.header.kernels.includes(product.kernel)) group.header.kernels.push(product.kernel);
      group.products.push({ kind: 'product', key: productKey(product), product, selected });
    }
    const rows: CatalogRow[] = [];
    for (const { header, products } of [...groups.values()].sort((a, b) => a.header.key.localeCompare(b.header.key))) {
      rows.push(header);
      if (!this.#collapsed.has(header.key) || needle !== '') rows.push(...products);
    }
    return rows;
  });

  isCollapsed(groupKey: string): boolean { return this.#collapsed.has(groupKey); }

  toggleCollapsed(groupKey: string): void {
    const next = new Set(this.#collapsed);
    if (!next.delete(groupKey)) next.add(groupKey);
    this.#collapsed = next;
  }

  /** Reads every product of a freshly loaded stream; groups start collapsed (a stream has hundreds). */
  async open(streamId: string): Promise<void> {
    this.#streamId = streamId;
    this.#loading = true;
    this.#error = undefined;
    try {
      this.#all = await this.#client.products(streamId, { selection: [] });
      this.#collapsed = new Set(this.#all.map((product) => `${product.os}/${product.release}/${product.arch}`));
    } catch (error) {
      this.#error = toClientError(error);
    } finally {
      this.#loading = false;
    }
    await this.#refreshSelection();
  }

  /** Ticks or unticks a whole OS / release / arch group: its own line in the text. */
  toggleGroup(row: GroupRow): void {
    this.#toggleLine(row.line, row.selectedProducts < row.products);
  }

  /** Ticks or unticks one product: its own `product_name=` line. */
  toggleProduct(row: ProductRow): void {
    this.#toggleLine([`product_name=${row.product.productName}`], !row.selected);
  }

  /**
   * Narrows a group's line to one kernel (its subarch, the first word of `kernel`), or back to
   * every kernel with ''.
   */
  pickKernel(row: GroupRow, kernel: string): void {
    const groups = this.groups.filter((group) => !sameGroup(group.filter((filter) => !filter.startsWith('subarch=')), row.line));
    const subarch = kernel.split(' ')[0] ?? '';
    groups.push(subarch === '' ? row.line : [...row.line, `subarch=${subarch}`]);
    this.text = groupsToText(groups);
  }

  /** The kernel a group's line is narrowed to, or '' for all of them. */
  kernelOf(row: GroupRow): string {
    const line = this.groups.find((group) => sameGroup(group.filter((filter) => !filter.startsWith('subarch=')), row.line));
    const subarch = line?.find((filter) => filter.startsWith('subarch='))?.slice('subarch='.length);
    return subarch === undefined ? '' : (row.kernels.find((kernel) => kernel.split(' ')[0] === subarch) ?? '');
  }

  #toggleLine(line: string[], on: boolean): void {
    const groups = this.groups;
    const present = groups.some((group) => sameGroup(group, line));
    if (on && !present) {
      this.text = groupsToText([...groups, line]);
    } else if (!on && present) {
      this.text = groupsToText(groups.filter((group) => !sameGroup(group, line)));
    } else if (!on) {
      this.#note = `Another line of the filter text picks this (${line.join(' ')} is not a line of its own); edit the text to leave it out.`;
    }
  }

  async #refreshSelection(): Promise<void> {
    const streamId = this.#streamId;
    const groups = this.groups;
    // An empty selection means "everything" to the engine; here it means nothing is ticked yet.
    if (streamId === undefined || groups.length === 0) {
      this.#selectedKeys = new Set();
      this.#advice = [];
      return;
    }
    const asked = ++this.#asked;
    try {
      const request = { selection: groups, ...(this.#max === undefined ? {} : { max: this.#max }) };
      const picked = await this.#client.products(streamId, request);
      // Only a selection that picks nothing needs the reasons, which cost the engine a diagnosis.
      const advice = picked.length === 0 ? adviceLines(await this.#client.advise(streamId, request)) : [];
      if (asked !== this.#asked) return;
      this.#selectedKeys = new Set(picked.map(productKey));
      this.#advice = advice;
      this.#error = undefined;
    } catch (error) {
      if (asked === this.#asked) this.#error = toClientError(error);
    }
  }
}
