import { describe, expect, it } from 'vitest';
import { OciError } from '../oci/errors.js';
import { errorBody, scrubInternal } from './errors.js';

describe('errorBody', () => {
  it('scrubs IP:port, host:port, URLs and file paths from a 5xx message and detail', () => {
    const err = new OciError('UPSTREAM_UNAVAILABLE', {
      message: 'connect ECONNREFUSED 10.1.2.3:5000',
      detail: {
        upstream: 'docker.io',
        reason: 'connect ECONNREFUSED 10.1.2.3:5000 via http://registry.corp.internal:8080/v2/ at /srv/mirror/data/tmp/abc',
        nested: [{ addr: '[fd00::1]:443' }, 'registry.corp.internal:5000'],
      },
    });
    const text = errorBody(err);
    for (const leak of ['10.1.2.3', '5000', 'registry.corp.internal', '8080', '/srv/mirror', 'fd00::1']) expect(text).not.toContain(leak);
    const body = JSON.parse(text);
    expect(body.errors[0].code).toBe('UPSTREAM_UNAVAILABLE');
    expect(body.errors[0].detail.upstream).toBe('docker.io');
  });

  it('leaves a 4xx alone: the client sent what it names', () => {
    const err = new OciError('NAME_INVALID', { detail: { name: 'a/b/c' } });
    expect(JSON.parse(errorBody(err)).errors[0].detail).toEqual({ name: 'a/b/c' });
  });

  it('keeps digests and plain words, and survives deep or cyclic-looking values', () => {
    const digest = `sha256:${'1'.repeat(64)}`;
    expect(scrubInternal({ digest, status: 503 })).toEqual({ digest, status: 503 });
    let deep: unknown = 'x';
    for (let i = 0; i < 50; i++) deep = { d: deep };
    expect(() => JSON.stringify(scrubInternal(deep))).not.toThrow();
  });
});
