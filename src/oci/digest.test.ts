import { describe, expect, it } from 'vitest';
import { ociError } from '../../test/helpers/oci-error.js';
import { isDigest, parseDigest, tryParseDigest } from './digest.js';
import { OciError } from './errors.js';

const HEX64 = 'a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';
const HEX128 = 'ab'.repeat(64);

describe('parseDigest', () => {
  it('splits a sha256 digest into algorithm and hex, keeping the canonical value', () => {
    expect(parseDigest(`sha256:${HEX64}`)).toEqual({ algorithm: 'sha256', hex: HEX64, value: `sha256:${HEX64}` });
  });

  it('accepts sha512 with 128 hex digits', () => {
    expect(parseDigest(`sha512:${HEX128}`).algorithm).toBe('sha512');
  });

  it.each([
    ['uppercase hex', `sha256:${HEX64.toUpperCase()}`],
    ['63 hex digits', `sha256:${HEX64.slice(1)}`],
    ['65 hex digits', `sha256:${HEX64}0`],
    ['sha512 with 64 hex digits', `sha512:${HEX64}`],
    ['sha256 with 128 hex digits', `sha256:${HEX128}`],
    ['an unknown algorithm', `md5:${HEX64}`],
    ['an uppercase algorithm', `SHA256:${HEX64}`],
    ['a non-hex character', `sha256:${HEX64.slice(1)}g`],
    ['no algorithm', HEX64],
    ['an empty hex part', 'sha256:'],
    ['surrounding spaces', ` sha256:${HEX64}`],
    ['the empty string', ''],
  ])('refuses %s with DIGEST_INVALID (400)', (_what, value) => {
    expect(tryParseDigest(value)).toBeUndefined();
    expect(isDigest(value)).toBe(false);
    const err = ociError(() => parseDigest(value));
    expect(err.code).toBe('DIGEST_INVALID');
    expect(err.status).toBe(400);
    expect(err.detail).toEqual({ digest: value });
  });

  it('isDigest is true for a valid digest', () => {
    expect(isDigest(`sha256:${HEX64}`)).toBe(true);
  });
});
