
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProgressTracker, estimateEta, type Progress } from '../../../src-main/base/progress.js';

let emitted: Progress[];

beforeEach(() => {
  vi.useFakeTimers();
  emitted = [];
});

afterEach(() => {
  vi.useRealTimers();
});

function tracker(overrides: { bytesTotal?: number; filesTotal?: number; speedWindowMs?: number } = {}): ProgressTracker {
  return new ProgressTracker({
    jobId: 'job-7',
    step: 'download',
    bytesTotal: overrides.bytesTotal ?? 1_000_000,
    filesTotal: overrides.filesTotal ?? 2,
    emit: (progress) => emitted.push(progress),
    intervalMs: 200,
    speedWindowMs: overrides.speedWindowMs ?? 1_000,
    now: () => Date.now(),
  });
}

describe('estimateEta', () => {
  it('is the remaining bytes over the speed, rounded up', () => {
    expect(estimateEta(250, 1_000, 100)).toBe(8);
  });

  it('is 0 when done and null while the speed is unknown', () => {
    expect(estimateEta(1_000, 1_000, 0)).toBe(0);
    expect(estimateEta(10, 1_000, 0)).toBeNull();
  });
});

describe('ProgressTracker', () => {
  it('emits on the interval, not per chunk', () => {
    const progress = tracker();
    const file = progress.startFile('a.img', 500_000);

    for (let chunk = 0; chunk < 1_000; chunk += 1) file.addBytes(100);
    expect(emitted).toHaveLength(0);
    vi.advanceTimersByTime(199);
    expect(emitted).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(emitted).toHaveLength(1);
    vi.advanceTimersByTime(1_000);

    expect(emitted).toHaveLength(6);
    expect(emitted[0]).toMatchObject({ jobId: 'job-7', step: 'download', bytesDone: 100_000, filesDone: 0, filesTotal: 2 });
    progress.finish();
  });

  it('shows files in flight in current, and counts them when done', () => {
    const progress = tracker();
    const first = progress.startFile('a.img', 600_000);
    const second = progress.startFile('b.img', 400_000);
    first.addBytes(600_000);
    second.addBytes(1_000);
    first.done();

    vi.advanceTimersByTime(200);

    expect(emitted[0]?.filesDone).toBe(1);
    expect(emitted[0]?.current.map((file) => [file.name, file.bytesDone, file.bytesTotal])).toEqual([['b.img', 1_000, 400_000]]);
    progress.finish();
  });

  it('averages speed over the window and derives the ETA from it', () => {
    const progress = tracker({ bytesTotal: 1_000_000, speedWindowMs: 1_000 });
    const file = progress.startFile('a.img', 1_000_000);

    for (let tick = 0; tick < 5; tick += 1) {
      file.addBytes(20_000);
      vi.advanceTimersByTime(200);
    }
    const steady = emitted.at(-1);

    expect(steady?.speed).toBeCloseTo(100_000, 0);
    expect(steady?.eta).toBe(9);
    expect(steady?.current[0]?.speed).toBeCloseTo(100_000, 0);

    // A pause shows up as the window slides past the last bytes.
    vi.advanceTimersByTime(1_200);
    expect(emitted.at(-1)?.speed).toBe(0);
    expect(emitted.at(-1)?.eta).toBeNull();
    progress.finish();
  });

  it('takes back bytes when a file starts over, without a negative speed', () => {
    const progress = tracker();
    const file = progress.startFile('a.img', 500_000);
    file.addBytes(300_000);
    vi.advanceTimersByTime(200);
    file.addBytes(-300_000);
    file.addBytes(50_000);
    vi.advanceTimersByTime(200);

    const latest = emitted.at(-1);
    expect(latest?.bytesDone).toBe(50_000);
    expect(latest?.current[0]?.bytesDone).toBe(50_000);
    expect(latest?.speed).toBeGreaterThan(0);
    progress.finish();
  });

  it('emits once more on finish and then stops', () => {
    const progress = tracker({ filesTotal: 1 });
    const file = progress.startFile('a.img', 1_000_000);
    file.addBytes(1_000_000);
    file.done();
    vi.advanceTimersByTime(50);

    progress.setStep('metadata');
    progress.finish();
    progress.finish();
    vi.advanceTimersByTime(5_000);

    expect(emitted).toHaveLength(1);
    expect(emitted[0]).toMatchObject({ step: 'metadata', bytesDone: 1_000_000, filesDone: 1, eta: 0, current: [] });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('ignores bytes reported after a file has settled', () => {
    const progress = tracker();
    const file = progress.startFile('a.img', 10);
    file.addBytes(10);
    file.failed();
    file.addBytes(10);
    file.done();

    progress.finish();

    expect(emitted[0]).toMatchObject({ bytesDone: 10, filesDone: 0, current: [] });
  });
});
