// The Export and Offline screens. Both drive the media jobs of issue 9 (export, verify, import),
// whose inputs and outcomes are provisional here (client.ts MediaJobInputs/MediaOutcomes) until
// that work is merged; the drive list and the space arithmetic are real already.
import type { DriveListingData } from '../../../src-main/contract/index.js';

type Drive = DriveListingData['drives'][number];
import { toClientError, type ClientError, type DriveListing, type FerryClient, type MediaOutcomes } from '../client.js';
import type { CatalogState } from './catalog.svelte.js';
import { JobRun } from './job.svelte.js';

/** The file systems that cannot hold a MAAS mirror as plain files, and why (issue 9 §2, prior art §0.1). */
export function fileSystemProblems(fsType: string | null, largestFileBytes: number): string[] {
  const problems: string[] = [];
  const fs = fsType ?? '';
  if (['vfat', 'fat32', 'exfat', 'ntfs'].includes(fs)) problems.push(`${fs} cannot hold ':' in file names: the export is written as a bundle (blobs by hash), which it can hold.`);
  if ((fs === 'vfat' || fs === 'fat32') && largestFileBytes >= 4 * 1024 ** 3) problems.push('FAT32 holds no file of 4 GiB or more: the largest files are split into parts, which the importer joins.');
  if (fs === '') problems.push('The drive has no mounted file system: format it (ext4, exFAT or NTFS) and plug it in again.');
  return problems;
}

/** Where an export goes: a detected drive's mounted volume, or a folder typed in. */
export interface ExportTarget {
  path: string;
  label: string;
  fsType: string | null;
  sizeBytes: number | null;
  freeBytes: number | null;
}

export function targetsOf(drive: Drive): ExportTarget[] {
  return drive.volumes
    .filter((volume) => volume.mountPoints.length > 0 && volume.mountPoints[0] !== '[SWAP]')
    .map((volume) => ({
      path: volume.mountPoints[0] ?? '',
      label: `${drive.model ?? drive.device} ${volume.label ?? ''}`.trim(),
      fsType: volume.fsType,
      sizeBytes: volume.sizeBytes,
      freeBytes: volume.freeBytes,
    }));
}

export class ExportState {
  readonly #client: FerryClient;
  readonly #catalog: CatalogState;
  #drives = $state.raw<DriveListing | undefined>(undefined);
  #target = $state.raw<ExportTarget | undefined>(undefined);
  #folder = $state('');
  #incremental = $state(false);
  #site = $state('');
  #error = $state.raw<ClientError | undefined>(undefined);
  readonly job: JobRun<'export'>;

  constructor(client: FerryClient, catalog: CatalogState) {
    this.#client = client;
    this.#catalog = catalog;
    this.job = new JobRun(client, 'export');
  }

  get drives(): DriveListing | undefined { return this.#drives; }
  get target(): ExportTarget | undefined { return this.#target; }
  get folder(): string { return this.#folder; }
  set folder(value: string) {
    this.#folder = value;
    this.#target = value.trim() === '' ? undefined : { path: value.trim(), label: 'Folder', fsType: null, sizeBytes: null, freeBytes: null };
  }
  get incremental(): boolean { return this.#incremental; }
  set incremental(value: boolean) { this.#incremental = value; }
  /** The site an incremental export is for: only blobs it lacks are carried. */
  get site(): string { return this.#site; }
  set site(value: string) { this.#site = value; }
  get error(): ClientError | undefined { return this.#error; }
  get outcome(): MediaOutcomes['export'] | undefined { return this.job.result<MediaOutcomes['export']>(); }

  /** Bytes this export writes: the selection's size (a full export; an incremental one writes less). */
  get exportBytes(): number { return this.#catalog.selectedBytes; }
  get largestFileBytes(): number { return Math.max(0, ...this.#catalog.selected.map((product) => product.latestVersionBytes)); }

  /** The space bar's three parts and the verdict, before anything is written. */
  get space(): { used: number; export: number; free: number; fits: boolean } | undefined {
    const target = this.#target;
    if (target?.sizeBytes == null || target.freeBytes === null) return undefined;
    const used = target.sizeBytes - target.freeBytes;
    return { used, export: this.exportBytes, free: target.freeBytes, fits: this.exportBytes <= target.freeBytes };
  }

  get problems(): string[] {
    const target = this.#target;
    return target === undefined || target.label === 'Folder' ? [] : fileSystemProblems(target.fsType, this.largestFileBytes);
  }

  choose(target: ExportTarget): void {
    this.#target = target;
    this.#folder = '';
  }

  async findDrives(showSystem = false): Promise<void> {
    this.#error = undefined;
    try {
      this.#drives = await this.#client.drives({ showSystem });
    } catch (error) {
      this.#error = toClientError(error);
    }
  }

  async start(): Promise<void> {
    const target = this.#target;
    if (target === undefined) {
      this.#error = { code: 'FERRY_INPUT_INVALID', message: 'Choose a drive or type a folder to export to.' };
      return;
    }
    if (this.space?.fits === false) {
      this.#error = { code: 'FERRY_NO_SPACE', message: 'The export does not fit on this drive.', hint: 'Free some space, choose a larger drive, or select fewer products.' };
      return;
    }
    this.#error = undefined;
    await this.job.start({
      to: target.path,
      selection: this.#catalog.groups,
      ...(this.#incremental && this.#site.trim() !== '' ? { site: this.#site.trim() } : {}),
    });
  }
}

export class OfflineState {
  #bundle = $state('');
  #into = $state('');
  readonly verify: JobRun<'verify'>;
  readonly import: JobRun<'import'>;

  constructor(client: FerryClient) {
    this.verify = new JobRun(client, 'verify');
    this.import = new JobRun(client, 'import');
  }

  /** The bundle's folder (on the drive, or copied off it). */
  get bundle(): string { return this.#bundle; }
  set bundle(value: string) { this.#bundle = value; }
  get into(): string { return this.#into; }
  set into(value: string) { this.#into = value; }
  get verifyOutcome(): MediaOutcomes['verify'] | undefined { return this.verify.result<MediaOutcomes['verify']>(); }
  get importOutcome(): MediaOutcomes['import'] | undefined { return this.import.result<MediaOutcomes['import']>(); }

  /** The command that serves the imported tree to MAAS over HTTP. */
  get serveCommand(): string {
    return `ferry serve ${this.#into.trim() === '' ? 'MIRROR_DIR' : this.#into.trim()} --bind 0.0.0.0`;
  }

  async runVerify(): Promise<void> {
    await this.verify.start({ bundles: [this.#bundle.trim()] });
  }

  async runImport(): Promise<void> {
    await this.import.start({ bundles: [this.#bundle.trim()], into: this.#into.trim(), target: this.#into.trim() });
  }
}
