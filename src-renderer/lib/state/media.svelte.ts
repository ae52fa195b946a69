// The Export screen: the engine's export job (`ferry export`; the Offline screen's verify and
// import are offline.svelte.ts's). The export verdict is the engine's own, from a dry run of the
// same input (ExportOutcome.plan), so the screen never judges space or file systems by itself.
import type { DriveListingData, ExportInput, ExportPlanSummary, JobEvent } from '../../../src-main/contract/index.js';
import { toClientError, type ClientError, type DriveListing, type FerryClient } from '../client.js';
import { JobRun } from './job.svelte.js';

type Drive = DriveListingData['drives'][number];
/** A running export's question for its next drive (one drive after another). */
export type TargetNeeded = Extract<JobEvent, { type: 'target-needed' }>;

/** Where an export goes: a detected drive's mounted volume, or a folder typed in (sizes unknown). */
export interface ExportTarget {
  path: string;
  label: string;
  fsType: string | null;
  sizeBytes: number | null;
  freeBytes: number | null;
}

/** The mounted volumes of a drive the engine listed (drives.list): one target each. */
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

/** What the export starts from: the loaded source as synced into the library, and that library. */
export interface ExportOrigin {
  source: string | undefined;
  /** Keyring files the metadata verifies with; undefined: the bundled one. */
  keyringFiles: string[] | undefined;
  library: string;
  selection: string[][];
  /** The newest N versions of each product; undefined: all the library holds. */
  max: number | undefined;
}

/** The space bar's parts in bytes: used by other files (null: not known for a folder), this export, free after it. */
export interface SpaceBar {
  used: number | null;
  export: number;
  freeAfter: number;
}

/**
 * An outcome line of any shape as `{kind, message}`: the eject outcome is a plain string today and
 * a `{kind, ...}` object once drives are ejected, so the screen shows whichever arrives.
 */
const KIND_KEYS = ['kind', 'outcome', 'status', 'state'] as const;

export function describeOutcome(value: unknown): { kind: string; message: string } {
  if (typeof value === 'string') return { kind: value, message: value === 'not-requested' ? 'not asked for' : value };
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    const kindKey = KIND_KEYS.find((key) => typeof record[key] === 'string');
    const kind = kindKey === undefined ? 'unknown' : String(record[kindKey]);
    const rest = Object.entries(record).filter(([key]) => key !== kindKey);
    const message = typeof record['message'] === 'string' ? record['message'] : rest.map(([key, field]) => `${key}: ${typeof field === 'string' ? field : JSON.stringify(field)}`).join('; ');
    return { kind, message: message === '' ? kind : message };
  }
  return { kind: 'unknown', message: String(value) };
}

export class ExportState {
  readonly #client: FerryClient;
  readonly #origin: () => ExportOrigin;
  #drives = $state.raw<DriveListing | undefined>(undefined);
  #target = $state.raw<ExportTarget | undefined>(undefined);
  #folder = $state('');
  #base = $state<'full' | 'site' | 'since'>('full');
  #site = $state('');
  #since = $state('');
  #error = $state.raw<ClientError | undefined>(undefined);
  /** The folder typed or chosen for the next drive of an export carried one drive after another. */
  #nextTarget = $state('');
  /** How many of the job's events there were when the last question was answered: that question is not shown again. */
  #answeredAt = $state(0);
  /** The verdict's key: the input it was made for; a changed input needs a new check. */
  #checkedFor = $state<string | undefined>(undefined);
  /** The dry run that gives the verdict. */
  readonly check: JobRun<'export'>;
  readonly job: JobRun<'export'>;

  constructor(client: FerryClient, origin: () => ExportOrigin) {
    this.#client = client;
    this.#origin = origin;
    this.check = new JobRun(client, 'export');
    this.job = new JobRun(client, 'export');
  }

  get drives(): DriveListing | undefined { return this.#drives; }
  get target(): ExportTarget | undefined { return this.#target; }
  get folder(): string { return this.#folder; }
  set folder(value: string) {
    this.#folder = value;
    this.#target = value.trim() === '' ? undefined : { path: value.trim(), label: 'Folder', fsType: null, sizeBytes: null, freeBytes: null };
  }
  /** Full, or incremental against a site's ledger or a site's receipt file. */
  get base(): 'full' | 'site' | 'since' { return this.#base; }
  set base(value: 'full' | 'site' | 'since') { this.#base = value; }
  get site(): string { return this.#site; }
  set site(value: string) { this.#site = value; }
  /** A receipt file written on the site (`ferry receipt`). */
  get since(): string { return this.#since; }
  set since(value: string) { this.#since = value; }
  get error(): ClientError | undefined { return this.#error; }

  /** The engine's verdict for the current input, once checked. */
  get verdict(): ExportPlanSummary | undefined {
    return this.#checkedFor === this.#key() ? this.check.result()?.plan : undefined;
  }
  /** The dry run refused the export (too little space, a file system that cannot hold it). */
  get refusal(): ClientError | undefined {
    return this.#checkedFor === this.#key() ? this.check.error : undefined;
  }
  get outcome(): ReturnType<JobRun<'export'>['result']> { return this.job.result(); }
  /** The running export waits for the next drive: its question, until answered (a refused answer asks again, with the reason). */
  get targetNeeded(): TargetNeeded | undefined {
    const events = this.job.events;
    const last = events.at(-1);
    return this.job.active && last?.type === 'target-needed' && events.length > this.#answeredAt ? last : undefined;
  }
  get nextTarget(): string { return this.#nextTarget; }
  set nextTarget(value: string) { this.#nextTarget = value; }

  /** The space bar, from the verdict: bytes needed against the free bytes the engine measured. */
  get space(): SpaceBar | undefined {
    const verdict = this.verdict;
    if (verdict?.freeBytes == null) return undefined;
    const size = this.#target?.sizeBytes ?? null;
    return { used: size === null ? null : Math.max(0, size - verdict.freeBytes), export: verdict.bytesNeeded, freeAfter: Math.max(0, verdict.freeBytes - verdict.bytesNeeded) };
  }

  /** The export's input, or why there is none yet. */
  get input(): ExportInput | string {
    const target = this.#target;
    if (target === undefined) return 'Choose a drive or type a folder to export to.';
    const origin = this.#origin();
    if (origin.source === undefined) return 'Load the source you synced first (Source screen).';
    if (this.#base === 'site' && this.#site.trim() === '') return 'Type the site name, or choose a full export.';
    if (this.#base === 'since' && this.#since.trim() === '') return "Type the path of the site's receipt file, or choose a full export.";
    return {
      to: target.path,
      source: origin.source,
      selection: origin.selection,
      ...(origin.max === undefined ? {} : { max: origin.max }),
      ...(origin.keyringFiles === undefined ? {} : { keyringFiles: origin.keyringFiles }),
      ...(origin.library.trim() === '' ? {} : { library: origin.library.trim() }),
      ...(this.#base === 'site' ? { site: this.#site.trim() } : {}),
      ...(this.#base === 'since' ? { since: this.#since.trim() } : {}),
    };
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

  /** Asks the engine for the verdict: a dry run of the export, which writes nothing. */
  async checkFit(): Promise<void> {
    const input = this.input;
    if (typeof input === 'string') {
      this.#error = { code: 'FERRY_INPUT_INVALID', message: input };
      return;
    }
    this.#error = undefined;
    this.#checkedFor = this.#key();
    await this.check.start({ ...input, dryRun: true });
  }

  /** The real export; only after a verdict that it fits, for this same input. */
  async start(): Promise<void> {
    const input = this.input;
    if (typeof input === 'string' || this.verdict === undefined) {
      this.#error = { code: 'FERRY_INPUT_INVALID', message: typeof input === 'string' ? input : 'Check the space first: the export starts after the verdict.' };
      return;
    }
    this.#error = undefined;
    await this.job.start(input);
  }

  /**
   * The export the verdict refused for want of space, carried one drive after another: volume 1
   * fills the chosen drive and the job asks for each next one (targetNeeded). The engine still
   * refuses, before writing, an export whose largest file does not fit the drive.
   */
  async startAcrossDrives(): Promise<void> {
    const input = this.input;
    if (typeof input === 'string' || this.refusal?.code !== 'FERRY_NOT_ENOUGH_SPACE') {
      this.#error = { code: 'FERRY_INPUT_INVALID', message: typeof input === 'string' ? input : 'Check the space first: drive after drive is for an export that does not fit one drive.' };
      return;
    }
    this.#error = undefined;
    this.#answeredAt = 0;
    await this.job.start({ ...input, askForTargets: true });
  }

  /** Hands the next drive's folder to the waiting export. */
  async provideTarget(): Promise<void> {
    const jobId = this.job.jobId;
    const path = this.#nextTarget.trim();
    if (jobId === undefined || this.targetNeeded === undefined || path === '') {
      this.#error = { code: 'FERRY_INPUT_INVALID', message: 'Choose the next drive, or type the folder it is mounted at.' };
      return;
    }
    this.#error = undefined;
    this.#answeredAt = this.job.events.length;
    try {
      await this.#client.provideTarget(jobId, path);
      this.#nextTarget = '';
    } catch (error) {
      this.#answeredAt = 0;
      this.#error = toClientError(error);
    }
  }

  #key(): string {
    const input = this.input;
    return typeof input === 'string' ? '' : JSON.stringify(input);
  }
}
