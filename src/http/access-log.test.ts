import { describe, expect, it } from 'vitest';
import { logTarget } from './access-log.js';

describe('logTarget', () => {
  it('keeps the path and the query (?ns= must be visible)', () => {
    expect(logTarget('/v2/library/alpine/manifests/3.20?ns=docker.io')).toBe('/v2/library/alpine/manifests/3.20?ns=docker.io');
  });

  it('redacts secret query values, whatever their case or position', () => {
    expect(logTarget('/auth/token?service=s&password=hunter2&scope=x&Access_Token=abc&token=t&sig=zz'))
      .toBe('/auth/token?service=s&password=REDACTED&scope=x&Access_Token=REDACTED&token=REDACTED&sig=REDACTED');
  });

  it('redacts userinfo of an absolute-form target', () => {
    expect(logTarget('http://alice:secret@mirror/v2/')).toBe('http://REDACTED@mirror/v2/');
  });

  it('returns a target without a query unchanged (the same string)', () => {
    const t = '/v2/library/alpine/manifests/latest';
    expect(logTarget(t)).toBe(t);
  });
});
