import { describe, expect, it } from 'vitest';
import { parseImageRef } from './image-ref.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseImageRef', () => {
  it('splits name, tag and digest as Docker does (latest by default, a digest wins)', () => {
    expect(parseImageRef('alpine')).toMatchObject({ name: 'alpine', reference: { kind: 'tag', tag: 'latest' } });
    expect(parseImageRef(' alpine:3.20 ')).toMatchObject({ name: 'alpine', reference: { kind: 'tag', tag: '3.20' }, text: 'alpine:3.20' });
    expect(parseImageRef('docker.io/library/alpine:3.20')).toMatchObject({ name: 'docker.io/library/alpine', reference: { tag: '3.20' } });
    // A port is no tag: the tag is after the last ':' that follows the last '/'.
    expect(parseImageRef('localhost:5000/team/app')).toMatchObject({ name: 'localhost:5000/team/app', reference: { tag: 'latest' } });
    expect(parseImageRef('localhost:5000/team/app:1')).toMatchObject({ name: 'localhost:5000/team/app', reference: { tag: '1' } });
    expect(parseImageRef(`ghcr.io/owner/app@${D}`).reference).toMatchObject({ kind: 'digest', digest: { value: D } });
    expect(parseImageRef(`ghcr.io/owner/app:1@${D}`)).toMatchObject({ name: 'ghcr.io/owner/app', reference: { kind: 'digest' } });
  });

  it('refuses what is no reference', () => {
    for (const bad of ['', ' ', 'alpine:', ':3.20', 'alpine:bad/tag:x!', 'a b', 'alpine@sha256:123', `@${D}`]) {
      expect(() => parseImageRef(bad), bad).toThrow();
    }
  });
});
