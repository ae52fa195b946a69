// Many tasks (transfers, checks) with a bounded number in flight. A failed task is a result, not an
// exception: the other tasks carry on, and the caller gets every outcome back. Part of base/, the
// ground floor.

import { cancelledError } from './cancel.js';
import { FerryError, describeError } from './errors.js';

export type SettledTransfer<T, R> = { task: T; ok: true; result: R } | { task: T; ok: false; error: FerryError };

export interface RunTransfersOptions<T, R> {
  /** Tasks in flight at once. */
  concurrency: number;
  /** Stops starting tasks and is passed to the running ones, which are expected to stop. */
  signal?: AbortSignal;
  /** Told about each task as it settles, in the order they settle. */
  onSettled?: (settled: SettledTransfer<T, R>) => void;
}

export interface TransferOutcome<T, R> {
  /** In the order the tasks were given. */
  completed: Array<{ task: T; result: R }>;
  /** In the order the tasks were given; after a cancel, tasks never started are here as FERRY_CANCELLED. */
  failures: Array<{ task: T; error: FerryError }>;
}

/**
 * Runs `worker` over `tasks`, at most `concurrency` at once, each given the shared signal
 * (etcher-sdk's multi-write: a failed task is a result). A rejection becomes that task's failure: a
 * FerryError stays as it is, anything else is wrapped as FERRY_FETCH_FAILED (the tasks run here are
 * transfers), and after a cancel every failure, and every task never started, is FERRY_CANCELLED.
 * Rejects only with FERRY_SETTING_INVALID (setting `concurrency`) for a concurrency below 1.
 */
export async function runTransfers<T, R>(
  tasks: readonly T[],
  worker: (task: T, signal: AbortSignal) => Promise<R>,
  options: RunTransfersOptions<T, R>,
): Promise<TransferOutcome<T, R>> {
  const { concurrency } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new FerryError('FERRY_SETTING_INVALID', `the number of parallel transfers must be a positive whole number, got ${concurrency}`, {
      setting: 'concurrency',
      actual: String(concurrency),
    });
  }
  const signal = options.signal ?? new AbortController().signal;
  const outcomes = new Array<SettledTransfer<T, R> | undefined>(tasks.length);
  const settle = (index: number, settled: SettledTransfer<T, R>): void => {
    outcomes[index] = settled;
    options.onSettled?.(settled);
  };

  let nextIndex = 0;
  const runLane = async (): Promise<void> => {
    while (nextIndex < tasks.length && !signal.aborted) {
      const index = nextIndex;
      nextIndex += 1;
      const task = tasks[index] as T;
      try {
        settle(index, { task, ok: true, result: await worker(task, signal) });
      } catch (error) {
        settle(index, { task, ok: false, error: asTransferError(error, signal) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, runLane));

  for (const [index, task] of tasks.entries()) {
    if (outcomes[index] === undefined) settle(index, { task, ok: false, error: cancelledError(signal) });
  }
  const outcome: TransferOutcome<T, R> = { completed: [], failures: [] };
  for (const settled of outcomes) {
    if (settled === undefined) continue;
    if (settled.ok) outcome.completed.push({ task: settled.task, result: settled.result });
    else outcome.failures.push({ task: settled.task, error: settled.error });
  }
  return outcome;
}

function asTransferError(error: unknown, signal: AbortSignal): FerryError {
  if (signal.aborted) return cancelledError(signal, error);
  if (error instanceof FerryError) return error;
  return new FerryError('FERRY_FETCH_FAILED', describeError(error), { cause: error });
}
