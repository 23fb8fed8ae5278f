import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MockAgent } from 'undici';
import { OciError } from '../oci/errors.js';
import { TokenCache, parseTokenResponse, type TokenCacheOptions } from './token-cache.js';

const REALM = 'https://auth.example/token';
const REQ = { realm: REALM, service: 'registry.example', scopes: ['repository:library/alpine:pull'] };

let agent: MockAgent;
let seen: Array<{ path: string; authorization?: string }>;

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  seen = [];
});
afterEach(async () => {
  await agent.close();
});

/** Answers every token request with `body` (or a function of the request count) and records it. */
function tokenService(status: number, body: (n: number) => object, times = 10): void {
  agent
    .get('https://auth.example')
    .intercept({ path: (p) => p.startsWith('/token'), method: 'GET' })
    .reply((opts) => {
      const headers = (opts.headers ?? {}) as Record<string, string>;
      seen.push({ path: opts.path, ...(headers['authorization'] ? { authorization: headers['authorization'] } : {}) });
      return { statusCode: status, data: JSON.stringify(body(seen.length)) };
    })
    .times(times);
}

function cache(extra: Partial<TokenCacheOptions> = {}): TokenCache {
  return new TokenCache({ upstream: 'example', dispatcher: agent, ...extra });
}

describe('TokenCache', () => {
  it('asks the realm with service and one scope parameter per scope, anonymously', async () => {
    tokenService(200, (n) => ({ token: `t${n}`, expires_in: 300 }));
    const t = await cache().get({ ...REQ, scopes: ['repository:a:pull', 'repository:b/c:pull'] });
    expect(t).toBe('t1');
    const url = new URL(seen[0]!.path, REALM);
    expect(url.searchParams.get('service')).toBe('registry.example');
    expect(url.searchParams.getAll('scope')).toEqual(['repository:a:pull', 'repository:b/c:pull']);
    expect(seen[0]!.authorization).toBeUndefined();
  });

  it('sends configured credentials as Basic', async () => {
    tokenService(200, () => ({ token: 't' }));
    await cache({ username: 'alice', password: 's3cret' }).get(REQ);
    expect(seen[0]!.authorization).toBe(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
  });

  it('sends credentials to an https realm on another host (Docker Hub: auth.docker.io), never to a plain-http one', async () => {
    tokenService(200, () => ({ token: 't' }));
    agent
      .get('http://auth.example')
      .intercept({ path: (p) => p.startsWith('/token'), method: 'GET' })
      .reply((opts) => {
        const headers = (opts.headers ?? {}) as Record<string, string>;
        seen.push({ path: `http:${opts.path}`, ...(headers['authorization'] ? { authorization: headers['authorization'] } : {}) });
        return { statusCode: 200, data: JSON.stringify({ token: 'plain' }) };
      });
    const warnings: string[] = [];
    const tokens = cache({ username: 'alice', password: 's3cret', ownHost: 'registry.example', onWarning: (m) => warnings.push(m) });
    await tokens.get(REQ);
    expect(await tokens.get({ ...REQ, realm: 'http://auth.example/token' })).toBe('plain');
    expect(seen[0]!.authorization).toBe(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
    expect(seen[1]!.path.startsWith('http:')).toBe(true);
    expect(seen[1]!.authorization).toBeUndefined();
    expect(warnings).toHaveLength(1);
  });

  it('sends credentials to a plain-http realm on any configured endpoint host of the upstream (issue 10), still not elsewhere', async () => {
    for (const host of ['http://mirror-eu.example', 'http://auth.example']) {
      agent
        .get(host)
        .intercept({ path: (p) => p.startsWith('/token'), method: 'GET' })
        .reply((opts) => {
          const headers = (opts.headers ?? {}) as Record<string, string>;
          seen.push({ path: `${host}${opts.path}`, ...(headers['authorization'] ? { authorization: headers['authorization'] } : {}) });
          return { statusCode: 200, data: JSON.stringify({ token: 'plain' }) };
        });
    }
    const tokens = cache({ username: 'alice', password: 's3cret', ownHost: 'registry.example', ownHosts: ['mirror-eu.example'], onWarning: () => {} });
    await tokens.get({ ...REQ, realm: 'http://mirror-eu.example/token' });
    await tokens.get({ ...REQ, realm: 'http://auth.example/token' });
    expect(seen[0]!.authorization).toBe(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
    expect(seen[1]!.authorization).toBeUndefined();
  });

  it('reuses a token until shortly before it expires, on its own clock', async () => {
    let now = 1_000_000;
    tokenService(200, (n) => ({ token: `t${n}`, expires_in: 300 }));
    const tokens = cache({ now: () => now, marginMs: 10_000 });
    expect(await tokens.get(REQ)).toBe('t1');
    now += 289_000;
    expect(await tokens.get(REQ)).toBe('t1');
    now += 2_000; // 291 s: inside the 10 s margin
    expect(tokens.peek(REQ)).toBeUndefined();
    expect(await tokens.get(REQ)).toBe('t2');
    expect(seen).toHaveLength(2);
  });

  it('treats a missing or short expires_in as 60 s', async () => {
    let now = 0;
    tokenService(200, (n) => ({ token: `t${n}`, expires_in: 5 }));
    const tokens = cache({ now: () => now, marginMs: 10_000 });
    await tokens.get(REQ);
    now = 49_000;
    expect(tokens.peek(REQ)).toBe('t1');
    now = 51_000;
    expect(tokens.peek(REQ)).toBeUndefined();
  });

  it('shares one request between concurrent callers', async () => {
    tokenService(200, (n) => ({ token: `t${n}` }));
    const tokens = cache();
    const all = await Promise.all([tokens.get(REQ), tokens.get(REQ), tokens.get({ ...REQ, scopes: [...REQ.scopes] })]);
    expect(all).toEqual(['t1', 't1', 't1']);
    expect(seen).toHaveLength(1);
  });

  it('keeps tokens for different scopes apart', async () => {
    tokenService(200, (n) => ({ token: `t${n}` }));
    const tokens = cache();
    expect(await tokens.get(REQ)).toBe('t1');
    expect(await tokens.get({ ...REQ, scopes: ['repository:other:pull'] })).toBe('t2');
    expect(await tokens.get(REQ)).toBe('t1');
  });

  it('fetches anew when the cached token was just rejected', async () => {
    tokenService(200, (n) => ({ token: `t${n}` }));
    const tokens = cache();
    expect(await tokens.get(REQ)).toBe('t1');
    expect(await tokens.get(REQ, { rejected: 't1' })).toBe('t2');
    // A stale rejection (of a token no longer cached) does not throw the new one away.
    expect(await tokens.get(REQ, { rejected: 't1' })).toBe('t2');
    expect(seen).toHaveLength(2);
  });

  it('turns token service failures into OciErrors with the status, and caches nothing', async () => {
    tokenService(401, () => ({ details: 'incorrect username or password' }), 1);
    const tokens = cache();
    const err = await tokens.get(REQ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OciError);
    expect((err as OciError).code).toBe('UPSTREAM_UNAVAILABLE');
    expect((err as OciError).detail).toMatchObject({ upstream: 'example', status: 401 });

    tokenService(429, () => ({}), 1);
    await expect(tokens.get(REQ)).rejects.toMatchObject({ code: 'TOOMANYREQUESTS' });

    tokenService(200, () => ({ token: 'ok' }), 1);
    expect(await tokens.get(REQ)).toBe('ok');
  });

  it('fails clearly when the token service is unreachable', async () => {
    agent.get('https://auth.example').intercept({ path: () => true }).replyWithError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    await expect(cache().get(REQ)).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', status: 502 });
  });
});

describe('parseTokenResponse', () => {
  it('prefers access_token over token', () => {
    expect(parseTokenResponse('{"token":"a","access_token":"b","expires_in":120}')).toEqual({ token: 'b', expiresInS: 120 });
    expect(parseTokenResponse('{"token":"a"}')).toEqual({ token: 'a', expiresInS: 60 });
    expect(parseTokenResponse('{"access_token":"","token":"a"}')).toEqual({ token: 'a', expiresInS: 60 });
  });

  it('rejects answers without a token', () => {
    expect(parseTokenResponse('{}')).toBeUndefined();
    expect(parseTokenResponse('not json')).toBeUndefined();
    expect(parseTokenResponse('null')).toBeUndefined();
  });
});

describe('TokenCache with per-request credentials (issue 10: password files, credential helpers)', () => {
  it('asks with the secret handed in, not the configured user, and keeps tokens apart per user', async () => {
    tokenService(200, (n) => ({ token: `t${n}`, expires_in: 300 }));
    const tokens = cache({ username: 'configured', password: 'old' });
    expect(await tokens.get(REQ, { secret: { kind: 'password', username: 'robot', password: 'pat-1' } })).toBe('t1');
    expect(seen[0]!.authorization).toBe(`Basic ${Buffer.from('robot:pat-1').toString('base64')}`);
    // Another account's token is not served from the cache.
    expect(await tokens.get(REQ, { secret: { kind: 'password', username: 'other', password: 'x' } })).toBe('t2');
    expect(tokens.peek(REQ, { kind: 'password', username: 'robot', password: 'pat-1' })).toBe('t1');
    expect(tokens.peek(REQ)).toBeUndefined();
  });

  it('exchanges a token secret (docker identity token) with the OAuth2 refresh-token grant, in a POST body', async () => {
    const posted: Array<{ body: string; authorization?: string }> = [];
    agent
      .get('https://auth.example')
      .intercept({ path: '/token', method: 'POST' })
      .reply((opts) => {
        const headers = (opts.headers ?? {}) as Record<string, string>;
        posted.push({ body: String(opts.body), ...(headers['authorization'] ? { authorization: headers['authorization'] } : {}) });
        return { statusCode: 200, data: JSON.stringify({ access_token: 'from-refresh', expires_in: 300 }) };
      });
    const t = await cache({ userAgent: 'registry-mirror/0.1' }).get(REQ, { secret: { kind: 'token', token: 'refresh-abc' } });
    expect(t).toBe('from-refresh');
    const form = new URLSearchParams(posted[0]!.body);
    expect(Object.fromEntries(form)).toEqual({
      grant_type: 'refresh_token', client_id: 'registry-mirror/0.1', refresh_token: 'refresh-abc',
      service: 'registry.example', scope: 'repository:library/alpine:pull',
    });
    expect(posted[0]!.authorization).toBeUndefined();
  });

  it('never sends an identity token to a plain-http realm on another host', async () => {
    agent
      .get('http://auth.example')
      .intercept({ path: (p) => p.startsWith('/token'), method: 'GET' })
      .reply((opts) => {
        seen.push({ path: opts.path });
        return { statusCode: 200, data: JSON.stringify({ token: 'anon' }) };
      });
    const warnings: string[] = [];
    const t = await cache({ ownHost: 'registry.example', onWarning: (m) => warnings.push(m) })
      .get({ ...REQ, realm: 'http://auth.example/token' }, { secret: { kind: 'token', token: 'refresh-abc' } });
    expect(t).toBe('anon');
    expect(seen[0]!.path).not.toContain('refresh-abc');
    expect(warnings).toHaveLength(1);
  });
});
