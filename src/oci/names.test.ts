import { describe, expect, it } from 'vitest';
import { ociError } from '../../test/helpers/oci-error.js';
import { OciError } from './errors.js';
import { assertName, isValidName, isValidTag, parseReference } from './names.js';

const HEX64 = 'a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';

describe('repository names', () => {
  it.each([
    'alpine',
    'library/alpine',
    'a/b/c',
    'a__b',
    'a_b',
    'a.b',
    'a-b',
    'a--b',
    'a---b',
    'ghcr.io/org/app-1.2',
    '0',
    'a'.repeat(255),
  ])('accepts %j', (name) => {
    expect(isValidName(name)).toBe(true);
    expect(assertName(name)).toBe(name);
  });

  it.each([
    ['uppercase', 'Library/alpine'],
    ['a leading separator', '-alpine'],
    ['a leading underscore', '_alpine'],
    ['a leading dot', '.alpine'],
    ['a leading slash', '/alpine'],
    ['a trailing slash', 'alpine/'],
    ['a trailing separator', 'alpine-'],
    ['an empty component', 'library//alpine'],
    ['a ".." component', 'library/../alpine'],
    ['two dots', 'a..b'],
    ['three underscores', 'a___b'],
    ['mixed separators', 'a.-b'],
    ['a colon', 'alpine:3.20'],
    ['a space', 'my app'],
    ['256 characters', 'a'.repeat(256)],
    ['the empty string', ''],
  ])('refuses %s with NAME_INVALID (400)', (_what, name) => {
    expect(isValidName(name)).toBe(false);
    const err = ociError(() => assertName(name));
    expect(err.code).toBe('NAME_INVALID');
    expect(err.status).toBe(400);
    expect(err.detail).toEqual({ name });
  });

  it('counts the whole name, slashes included, against the 255 limit', () => {
    const name = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
    expect(name).toHaveLength(255);
    expect(isValidName(name)).toBe(true);
    expect(isValidName(`${name}b`)).toBe(false);
  });
});

describe('tags', () => {
  it.each(['latest', '3.20', 'v1.0.0-rc_1', 'A', '_private', '0', 'a'.repeat(128), 'UPPER.case-Mixed_1'])(
    'accepts %j',
    (tag) => expect(isValidTag(tag)).toBe(true),
  );

  it.each([
    ['129 characters', 'a'.repeat(129)],
    ['a leading dot', '.hidden'],
    ['a leading dash', '-x'],
    ['a slash', 'a/b'],
    ['a colon', 'a:b'],
    ['a plus', '1.0+build'],
    ['the empty string', ''],
  ])('refuses %s', (_what, tag) => {
    expect(isValidTag(tag)).toBe(false);
  });
});

describe('parseReference', () => {
  it('reads a tag', () => {
    expect(parseReference('3.20')).toEqual({ kind: 'tag', tag: '3.20' });
  });

  it('reads a digest', () => {
    expect(parseReference(`sha256:${HEX64}`)).toEqual({
      kind: 'digest',
      digest: { algorithm: 'sha256', hex: HEX64, value: `sha256:${HEX64}` },
    });
  });

  it('refuses a malformed digest with DIGEST_INVALID (400)', () => {
    const err = ociError(() => parseReference('sha256:abc'));
    expect(err.code).toBe('DIGEST_INVALID');
    expect(err.status).toBe(400);
    expect(err.detail).toEqual({ reference: 'sha256:abc' });
  });

  it('refuses an invalid tag with a 400, never treating it as a name', () => {
    for (const ref of ['.hidden', 'a'.repeat(129), '']) {
      const err = ociError(() => parseReference(ref));
      expect(err.code).toBe('MANIFEST_INVALID');
      expect(err.status).toBe(400);
    }
  });
});
