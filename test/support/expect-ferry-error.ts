import { expect } from 'vitest';
import { FerryError, type FerryErrorCode } from '../../src-main/base/errors.js';

/** Awaits a promise that must reject with a FerryError of the given code, and returns the error for further checks. */
export async function expectFerryError(promise: Promise<unknown>, code: FerryErrorCode): Promise<FerryError> {
  const error = await rejectedFerryError(promise);
  expect(error.code, error.message).toBe(code);
  return error;
}

/** Awaits a promise that must reject with a FerryError, and returns it; anything else fails the test. */
export async function rejectedFerryError(promise: Promise<unknown>): Promise<FerryError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FerryError) return error;
    throw error;
  }
  throw new Error('expected a FerryError, but the promise resolved');
}

/** Runs a synchronous action that must throw a FerryError, and returns it for further checks. */
export function thrownFerryError(action: () => unknown): FerryError {
  try {
    action();
  } catch (error) {
    if (error instanceof FerryError) return error;
    throw error;
  }
  throw new Error('expected a FerryError, but nothing was thrown');
}
