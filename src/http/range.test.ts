import { describe, expect, it } from 'vitest';
import { OciError } from '../oci/errors.js';
import { resolveRange } from './range.js';

function unsatisfiable(header: string, size: number): OciError {
  try {
    resolveRange(header, size);
  } catch (err) {
    expect(err).toBeInstanceOf(OciError);
    return err as OciError;
  }
  throw new Error(`expected ${header} to be unsatisfiable for size ${size}`);
}

describe('resolveRange', () => {
  it('serves the whole blob for "bytes=0-"', () => {
    expect(resolveRange('bytes=0-', 100)).toEqual({ start: 0, end: 99 });
  });

  it('serves an inclusive range', () => {
    expect(resolveRange('bytes=10-19', 100)).toEqual({ start: 10, end: 19 });
    expect(resolveRange('bytes=5-5', 100)).toEqual({ start: 5, end: 5 });
  });

  it('serves the rest of the blob from an offset (a resumed pull)', () => {
    expect(resolveRange('bytes=40-', 100)).toEqual({ start: 40, end: 99 });
  });

  it('serves the last N bytes for a suffix range', () => {
    expect(resolveRange('bytes=-5', 100)).toEqual({ start: 95, end: 99 });
  });

  it('serves the whole blob for a suffix longer than it', () => {
    expect(resolveRange('bytes=-500', 100)).toEqual({ start: 0, end: 99 });
  });

  it('clamps an end beyond the size to the last byte', () => {
    expect(resolveRange('bytes=90-1000', 100)).toEqual({ start: 90, end: 99 });
  });

  it('tolerates surrounding whitespace', () => {
    expect(resolveRange('  bytes=1-2 ', 100)).toEqual({ start: 1, end: 2 });
  });

  it.each([
    ['a start at the size', 'bytes=100-', 100],
    ['a start beyond the size', 'bytes=150-200', 100],
    ['a zero-length suffix', 'bytes=-0', 100],
    ['any range of an empty blob', 'bytes=0-', 0],
    ['a suffix range of an empty blob', 'bytes=-5', 0],
  ])('refuses %s with RANGE_INVALID (416) and Content-Range: bytes */SIZE', (_what, header, size) => {
    const err = unsatisfiable(header, size);
    expect(err.code).toBe('RANGE_INVALID');
    expect(err.status).toBe(416);
    expect(err.headers).toEqual({ 'Content-Range': `bytes */${size}` });
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['garbage', 'garbage'],
    ['another unit', 'items=0-5'],
    ['no numbers', 'bytes=-'],
    ['letters', 'bytes=a-b'],
    ['a negative start', 'bytes=-5-10'],
    ['several ranges', 'bytes=0-5,10-15'],
    ['several ranges with a space', 'bytes=0-5, 10-15'],
    ['an end before the start', 'bytes=20-10'],
    ['no "="', 'bytes 0-5'],
  ])('ignores %s (the whole blob is served)', (_what, header) => {
    expect(resolveRange(header, 100)).toBeUndefined();
  });
});
