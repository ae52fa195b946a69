// The one progress shape every long operation reports, and the tracker that produces it. This is a
// file of base/, the ground floor: it imports nothing of ours, so every folder can use it.
//
// Chunks arrive tens of thousands of times per second; they only bump counters. Everything that
// costs something (speed, ETA, the `current` array) happens on a fixed interval, in snapshot().

export interface FileProgress {
  name: string;
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second, averaged over the tracker's speed window. */
  speed: number;
}

/**
 * What a job is doing: loading metadata, re-hashing present files (--verify-existing), downloading,
 * placing verified files, removing retired ones, writing or recording metadata, copying files
 * into a bundle (export) and reading them back around the page cache (read-back).
 */
export type ProgressStep = 'load' | 'verify-existing' | 'download' | 'place' | 'remove' | 'metadata' | 'export' | 'read-back';

export interface Progress {
  jobId: string;
  step: ProgressStep;
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
  /** Bytes per second, averaged over the tracker's speed window. */
  speed: number;
  /** Seconds left at the current speed; null while the speed is unknown. */
  eta: number | null;
  /** Files in flight, in the order they started. */
  current: FileProgress[];
}

export interface ProgressTrackerOptions {
  jobId: string;
  step: ProgressStep;
  bytesTotal: number;
  filesTotal: number;
  emit: (progress: Progress) => void;
  /** Time between emissions. Default 200 ms. */
  intervalMs?: number;
  /** How much recent history the speed averages over. Default 5 s. */
  speedWindowMs?: number;
  /** Monotonic clock in milliseconds; tests substitute their own. */
  now?: () => number;
}

const DEFAULT_INTERVAL_MS = 200;
const DEFAULT_SPEED_WINDOW_MS = 5_000;

/**
 * Seconds until `bytesTotal` is reached at `speed` bytes per second: 0 when done, null when the
 * speed is not known yet. The only place an ETA is worked out.
 */
export function estimateEta(bytesDone: number, bytesTotal: number, speed: number): number | null {
  if (bytesDone >= bytesTotal) return 0;
  if (!(speed > 0)) return null;
  return Math.ceil((bytesTotal - bytesDone) / speed);
}

/**
 * Speed over a sliding window, from counter samples taken once per interval. A ring of fixed size
 * is allocated once, so sampling never allocates.
 */
class SpeedMeter {
  readonly #times: Float64Array;
  readonly #counts: Float64Array;
  #newest = -1;
  #size = 0;

  constructor(capacity: number) {
    this.#times = new Float64Array(capacity);
    this.#counts = new Float64Array(capacity);
  }

  sample(time: number, count: number): void {
    this.#newest = (this.#newest + 1) % this.#times.length;
    this.#times[this.#newest] = time;
    this.#counts[this.#newest] = count;
    if (this.#size < this.#times.length) this.#size += 1;
  }

  /** Units per second between the oldest and newest sample in the window; 0 until there are two. */
  perSecond(): number {
    if (this.#size < 2) return 0;
    const oldest = (this.#newest - this.#size + 1 + this.#times.length) % this.#times.length;
    const elapsedMs = (this.#times[this.#newest] ?? 0) - (this.#times[oldest] ?? 0);
    if (elapsedMs <= 0) return 0;
    return (((this.#counts[this.#newest] ?? 0) - (this.#counts[oldest] ?? 0)) * 1000) / elapsedMs;
  }
}

/** The job-wide counters, shared by the tracker and its file entries. */
interface JobCounters {
  bytesDone: number;
  /** Bytes that ever arrived; only grows, so a download that starts over does not show negative speed. */
  bytesMoved: number;
  filesDone: number;
}

/** One file in flight, as handed to the code that moves its bytes. */
export interface TrackedFile {
  readonly name: string;
  /** Bound, so it can be passed on as an onBytes callback. Negative after a restart from zero. */
  readonly addBytes: (delta: number) => void;
  /** The file is complete and verified. */
  done(): void;
  /** The file failed: its bytes stay counted, it only leaves `current`. */
  failed(): void;
}

class FileEntry implements TrackedFile {
  readonly name: string;
  readonly bytesTotal: number;
  bytesDone = 0;
  bytesMoved = 0;
  readonly meter: SpeedMeter;
  readonly #job: JobCounters;
  readonly #leave: (entry: FileEntry) => void;
  #open = true;

  constructor(name: string, bytesTotal: number, meter: SpeedMeter, job: JobCounters, leave: (entry: FileEntry) => void) {
    this.name = name;
    this.bytesTotal = bytesTotal;
    this.meter = meter;
    this.#job = job;
    this.#leave = leave;
  }

  readonly addBytes = (delta: number): void => {
    if (!this.#open) return;
    this.bytesDone += delta;
    this.#job.bytesDone += delta;
    if (delta > 0) {
      this.bytesMoved += delta;
      this.#job.bytesMoved += delta;
    }
  };

  done(): void {
    if (!this.#open) return;
    this.#job.filesDone += 1;
    this.#close();
  }

  failed(): void {
    if (this.#open) this.#close();
  }

  #close(): void {
    this.#open = false;
    this.#leave(this);
  }
}

export class ProgressTracker {
  readonly #jobId: string;
  #step: ProgressStep;
  #bytesTotal: number;
  #filesTotal: number;
  readonly #emit: (progress: Progress) => void;
  readonly #now: () => number;
  readonly #meterCapacity: number;
  readonly #meter: SpeedMeter;
  readonly #counters: JobCounters = { bytesDone: 0, bytesMoved: 0, filesDone: 0 };
  readonly #inFlight = new Set<FileEntry>();
  readonly #leave = (entry: FileEntry): void => {
    this.#inFlight.delete(entry);
  };
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: ProgressTrackerOptions) {
    const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    const windowMs = options.speedWindowMs ?? DEFAULT_SPEED_WINDOW_MS;
    this.#jobId = options.jobId;
    this.#step = options.step;
    this.#bytesTotal = options.bytesTotal;
    this.#filesTotal = options.filesTotal;
    this.#emit = options.emit;
    this.#now = options.now ?? (() => performance.now());
    this.#meterCapacity = Math.max(2, Math.ceil(windowMs / intervalMs) + 1);
    this.#meter = new SpeedMeter(this.#meterCapacity);
    this.#meter.sample(this.#now(), 0);
    this.#timer = setInterval(() => {
      this.#tick();
    }, intervalMs);
    // Progress reporting alone must never keep the process alive.
    this.#timer.unref();
  }

  setStep(step: ProgressStep): void {
    this.#step = step;
  }

  /**
   * Raises the totals, for a step whose size is learnt as it goes: loading a stream learns of
   * products files from the index, and of each file's size only from its bytes.
   */
  addToTotals(files: number, bytes: number): void {
    this.#filesTotal += files;
    this.#bytesTotal += bytes;
  }

  startFile(name: string, bytesTotal: number): TrackedFile {
    const meter = new SpeedMeter(this.#meterCapacity);
    meter.sample(this.#now(), 0);
    const entry = new FileEntry(name, bytesTotal, meter, this.#counters, this.#leave);
    this.#inFlight.add(entry);
    return entry;
  }

  snapshot(): Progress {
    const { bytesDone, filesDone } = this.#counters;
    const speed = this.#meter.perSecond();
    const current: FileProgress[] = [];
    for (const file of this.#inFlight) {
      current.push({ name: file.name, bytesDone: file.bytesDone, bytesTotal: file.bytesTotal, speed: file.meter.perSecond() });
    }
    return {
      jobId: this.#jobId,
      step: this.#step,
      bytesDone,
      bytesTotal: this.#bytesTotal,
      filesDone,
      filesTotal: this.#filesTotal,
      speed,
      eta: estimateEta(bytesDone, this.#bytesTotal, speed),
      current,
    };
  }

  /** Stops the interval and emits one last time. Later calls do nothing. */
  finish(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#tick();
  }

  #tick(): void {
    this.#sample();
    this.#emit(this.snapshot());
  }

  #sample(): void {
    const time = this.#now();
    this.#meter.sample(time, this.#counters.bytesMoved);
    for (const file of this.#inFlight) file.meter.sample(time, file.bytesMoved);
  }
}
