import { expect } from 'vitest';
import type { JobEvent, JobHandle, Progress } from '../../../src-main/engine/index.js';

// Shared by the engine tests: they call the engine API in this process, against a real stream
// served on loopback and real folders.

/** Every event of a job, subscribed before its first one; resolves once the outcome arrived. */
export function collectEvents(handle: JobHandle): { events: JobEvent[]; ended: Promise<JobEvent[]> } {
  const events: JobEvent[] = [];
  const ended = new Promise<JobEvent[]>((resolve) => {
    handle.subscribe((event) => {
      events.push(event);
      if (['result', 'failed', 'cancelled', 'paused'].includes(event.type)) resolve(events);
    });
  });
  return { events, ended };
}

/** Polls the job's latest state until `ready` holds (or fails the test after `timeoutMs`). */
export async function waitForProgress(handle: JobHandle, ready: (progress: Progress) => boolean, timeoutMs = 20_000): Promise<Progress> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { progress, state } = handle.status();
    if (progress !== undefined && ready(progress)) return progress;
    expect(state, 'the job ended before the awaited progress').toBe('running');
    if (Date.now() > deadline) throw new Error(`no such progress within ${timeoutMs} ms; last: ${JSON.stringify(progress)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Fails unless `value` is plain data: objects with Object's prototype, arrays, strings, finite
 * numbers, booleans, null, undefined; and survives structuredClone and a JSON round trip.
 */
export function expectPlainData(value: unknown, label: string): void {
  const check = (node: unknown, at: string): void => {
    if (node === null || node === undefined || typeof node === 'string' || typeof node === 'boolean') return;
    if (typeof node === 'number') {
      expect(Number.isFinite(node), `${at} is a finite number`).toBe(true);
      return;
    }
    expect(typeof node, `${at} is data, not a ${typeof node}`).toBe('object');
    if (Array.isArray(node)) {
      node.forEach((entry, index) => { check(entry, `${at}[${index}]`); });
      return;
    }
    expect(Object.getPrototypeOf(node), `${at} is a plain object, not a ${(node).constructor.name}`).toBe(Object.prototype);
    for (const [key, entry] of Object.entries(node)) check(entry, `${at}.${key}`);
  };
  check(value, label);
  expect(structuredClone(value), label).toStrictEqual(value);
  expect(JSON.parse(JSON.stringify(value)), label).toEqual(value);
}
