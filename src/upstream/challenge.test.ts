import { describe, expect, it } from 'vitest';
import { findBearerChallenge, hasBasicChallenge, parseChallenges } from './challenge.js';

describe('parseChallenges', () => {
  it('reads a Docker Hub Bearer challenge', () => {
    const header =
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"';
    expect(parseChallenges(header)).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/alpine:pull',
        },
      },
    ]);
  });

  it('keeps commas inside quoted values', () => {
    const [c] = parseChallenges('Bearer realm="https://a.example/token",scope="repository:team/app:pull,push",error="insufficient_scope"');
    expect(c?.params).toEqual({
      realm: 'https://a.example/token',
      scope: 'repository:team/app:pull,push',
      error: 'insufficient_scope',
    });
  });

  it('unescapes quoted-pairs and tolerates spaces around "=" and ","', () => {
    const [c] = parseChallenges('Bearer  realm = "https://a/t" , service="say \\"hi\\""');
    expect(c?.params).toEqual({ realm: 'https://a/t', service: 'say "hi"' });
  });

  it('reads Basic, and several challenges in one value or in several values', () => {
    expect(parseChallenges('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
    const one = parseChallenges('Bearer realm="https://a/t",service="s", Basic realm="r"');
    expect(one.map((c) => c.scheme)).toEqual(['bearer', 'basic']);
    expect(one[1]?.params).toEqual({ realm: 'r' });
    const many = parseChallenges(['Negotiate abc==', 'Basic realm=plain']);
    expect(many).toEqual([
      { scheme: 'negotiate', params: {} },
      { scheme: 'basic', params: { realm: 'plain' } },
    ]);
  });

  it('lower-cases the scheme and parameter names, not the values', () => {
    const [c] = parseChallenges('BEARER Realm="https://A/Token"');
    expect(c).toEqual({ scheme: 'bearer', params: { realm: 'https://A/Token' } });
  });

  it('returns what it can from empty or malformed input, without throwing', () => {
    expect(parseChallenges(undefined)).toEqual([]);
    expect(parseChallenges('')).toEqual([]);
    expect(parseChallenges('Bearer')).toEqual([{ scheme: 'bearer', params: {} }]);
    expect(parseChallenges('Bearer realm="unterminated')).toEqual([{ scheme: 'bearer', params: { realm: 'unterminated' } }]);
  });
});

describe('findBearerChallenge', () => {
  it('splits a space-separated scope into one entry per scope', () => {
    const b = findBearerChallenge(
      parseChallenges('Bearer realm="https://a/t",service="s",scope="repository:a:pull repository:b:pull"'),
    );
    expect(b).toEqual({ realm: 'https://a/t', service: 's', scopes: ['repository:a:pull', 'repository:b:pull'] });
  });

  it('leaves service and scopes out when the challenge has none', () => {
    expect(findBearerChallenge(parseChallenges('Bearer realm="http://127.0.0.1:1/token"'))).toEqual({
      realm: 'http://127.0.0.1:1/token',
      scopes: [],
    });
  });

  it('ignores a Bearer challenge without an http(s) realm', () => {
    expect(findBearerChallenge(parseChallenges('Bearer service="s"'))).toBeUndefined();
    expect(findBearerChallenge(parseChallenges('Bearer realm="file:///etc/passwd"'))).toBeUndefined();
    expect(findBearerChallenge(parseChallenges('Basic realm="https://a/t"'))).toBeUndefined();
  });
});

describe('hasBasicChallenge', () => {
  it('finds Basic among other challenges', () => {
    expect(hasBasicChallenge(parseChallenges('Bearer realm="https://a/t", Basic realm="x"'))).toBe(true);
    expect(hasBasicChallenge(parseChallenges('Bearer realm="https://a/t"'))).toBe(false);
  });
});
