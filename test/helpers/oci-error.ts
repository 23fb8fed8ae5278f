import { expect } from 'vitest';
import { OciError } from '../../src/oci/errors.js';

/** Runs fn (sync or async) and returns the OciError it throws; fails the test if none. */
export function ociError(fn: () => unknown): OciError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OciError);
    return err as OciError;
  }
  throw new Error('expected an OciError');
}

/** The same for a promise. */
export async function ociRejection(p: Promise<unknown>): Promise<OciError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(OciError);
    return err as OciError;
  }
  throw new Error('expected an OciError');
}
