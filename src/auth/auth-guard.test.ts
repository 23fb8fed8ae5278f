import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { htpasswdText } from '../../test/helpers/htpasswd.js';
import { ociRejection } from '../../test/helpers/oci-error.js';
import type { Config } from '../config/schema.js';
import { OciError } from '../oci/errors.js';
import { createAuthGuard, type AuthGuard, type AuthRequest, type RepositoryKind } from './auth-guard.js';

const ORIGIN = 'http://127.0.0.1:5000';
const REALM = `${ORIGIN}/auth/token`;
const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

let dir: string;
let htpasswdPath: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mirror-guard-'));
  htpasswdPath = join(dir, 'htpasswd');
  writeFileSync(htpasswdPath, htpasswdText({ alice: 'alice-pw', bob: 'bob-pw' }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let storageCount = 0;
const guards: AuthGuard[] = [];
afterAll(async () => {
  await Promise.all(guards.map((g) => g.close()));
});
/** A guard over alice (may push to team/*) and bob (may only pull there), with its own clock. */
function guard(overrides: Partial<Config['auth']> = {}) {
  const clock = { now: T0 };
  const auth: Config['auth'] = {
    htpasswd: htpasswdPath,
    realm: '',
    tokenTtlMs: 300_000,
    tokenSecret: '',
    mirrorPull: 'anonymous',
    rules: [{ repository: 'team/*', pull: ['*'], push: ['alice'], delete: ['alice'] }],
    admins: [],
    metricsAnonymous: false,
    maxFailures: 10,
    maxUserFailures: 50,
    failureWindowMs: 60_000,
    ...overrides,
  };
  const g = createAuthGuard({ auth, storagePath: join(dir, `data-${++storageCount}`), now: () => clock.now });
  guards.push(g);
  return { g, clock };
}

const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
const req = (authorization?: string, client = '192.0.2.1', loopback = false): AuthRequest => ({ authorization, origin: ORIGIN, client, loopback });
const kindOf = (name: string): RepositoryKind => (name.startsWith('team/') ? 'local' : 'mirror');

const rejection = ociRejection;

/** Asks the token service for scopes and returns the bearer token (fails the test unless 200). */
async function bearer(g: AuthGuard, authorization: string | undefined, ...scopes: string[]): Promise<string> {
  const query = new URLSearchParams({ service: 'registry-mirror' });
  for (const s of scopes) query.append('scope', s);
  const res = await g.token(req(authorization), query, kindOf);
  expect(res.status).toBe(200);
  return `Bearer ${(res.body as { token: string }).token}`;
}

function claimsOf(body: unknown): Record<string, unknown> {
  const token = (body as { token: string }).token;
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}

describe('authorize on /v2/ requests', () => {
  it('answers an anonymous push with 401 and the exact Bearer challenge for the scope', async () => {
    const { g } = guard();
    const err = await rejection(g.authorize(req(), 'team/app', 'local', ['pull', 'push']));
    expect(err.code).toBe('UNAUTHORIZED');
    expect(err.status).toBe(401);
    expect(err.headers).toEqual({
      'WWW-Authenticate': `Bearer realm="${REALM}",service="registry-mirror",scope="repository:team/app:pull,push"`,
    });
  });

  it('gives every 401 a detail, as Distribution does (dockerd retries a 401 without one for ~50 s)', async () => {
    const { g } = guard();
    const push = await rejection(g.authorize(req(), 'team/app', 'local', ['pull', 'push']));
    expect(push.toJSON().errors[0]!.detail).toEqual([
      { Type: 'repository', Class: '', Name: 'team/app', Action: 'pull' },
      { Type: 'repository', Class: '', Name: 'team/app', Action: 'push' },
    ]);
    const ping = await rejection(g.ping(req()));
    expect(ping.status).toBe(401);
    expect(ping.toJSON().errors[0]!.detail).toBeDefined();
  });

  it('announces the configured realm instead of the request origin', async () => {
    const { g } = guard({ realm: 'https://mirror.example.com/auth/token' });
    const err = await rejection(g.authorize(req(), 'team/app', 'local', ['pull']));
    expect(err.headers['WWW-Authenticate']).toBe('Bearer realm="https://mirror.example.com/auth/token",service="registry-mirror",scope="repository:team/app:pull"');
  });

  it('answers 403 DENIED to an authenticated user without push, and lets the user with push through', async () => {
    const { g } = guard();
    const err = await rejection(g.authorize(req(basic('bob', 'bob-pw')), 'team/app', 'local', ['pull', 'push']));
    expect(err.code).toBe('DENIED');
    expect(err.status).toBe(403);
    expect(await g.authorize(req(basic('bob', 'bob-pw')), 'team/app', 'local', ['pull'])).toBe('bob');
    expect(await g.authorize(req(basic('alice', 'alice-pw')), 'team/app', 'local', ['pull', 'push'])).toBe('alice');
  });

  it('treats a wrong Basic password as no credentials: 401 with the challenge, no password in the error', async () => {
    const { g } = guard();
    const err = await rejection(g.authorize(req(basic('alice', 'guessed-pw')), 'team/app', 'local', ['push']));
    expect(err.status).toBe(401);
    expect(err.headers['WWW-Authenticate']).toContain('scope="repository:team/app:push"');
    expect(JSON.stringify(err.toJSON())).not.toContain('guessed-pw');
  });

  it('lets anyone pull mirrored content by default, with or without users', async () => {
    const { g } = guard();
    expect(await g.authorize(req(), 'library/alpine', 'mirror', ['pull'])).toBeUndefined();
    expect(await g.authorize(req(basic('bob', 'bob-pw')), 'library/alpine', 'mirror', ['pull'])).toBe('bob');
    const { g: open } = guard({ htpasswd: '' });
    expect(await open.authorize(req(), 'library/alpine', 'mirror', ['pull'])).toBeUndefined();
  });

  it('asks for a login to pull mirrored content with mirrorPull: authenticated', async () => {
    const { g } = guard({ mirrorPull: 'authenticated' });
    const err = await rejection(g.authorize(req(), 'library/alpine', 'mirror', ['pull']));
    expect(err.headers['WWW-Authenticate']).toBe(`Bearer realm="${REALM}",service="registry-mirror",scope="repository:library/alpine:pull"`);
    expect(await g.authorize(req(basic('bob', 'bob-pw')), 'library/alpine', 'mirror', ['pull'])).toBe('bob');
  });

  it('refuses anonymous pushes to a local repository when no htpasswd is configured', async () => {
    const { g } = guard({ htpasswd: '', rules: [] });
    expect((await rejection(g.authorize(req(), 'team/app', 'local', ['push']))).status).toBe(401);
    expect((await rejection(g.authorize(req(basic('alice', 'alice-pw')), 'team/app', 'local', ['push']))).status).toBe(401);
  });
});

describe('Bearer tokens on /v2/ requests', () => {
  it('grants what the token lists: alice pushes with her token', async () => {
    const { g } = guard();
    const token = await bearer(g, basic('alice', 'alice-pw'), 'repository:team/app:pull,push');
    expect(await g.authorize(req(token), 'team/app', 'local', ['pull', 'push'])).toBe('alice');
  });

  it('answers 403 to a user whose token lacks push because the rules deny it', async () => {
    const { g } = guard();
    const token = await bearer(g, basic('bob', 'bob-pw'), 'repository:team/app:pull,push');
    expect(await g.authorize(req(token), 'team/app', 'local', ['pull'])).toBe('bob');
    expect((await rejection(g.authorize(req(token), 'team/app', 'local', ['pull', 'push']))).code).toBe('DENIED');
  });

  it('challenges (401) a user whose token merely covers another repository, so the client fetches one for this scope', async () => {
    const { g } = guard();
    const token = await bearer(g, basic('alice', 'alice-pw'), 'repository:team/app:pull,push');
    const err = await rejection(g.authorize(req(token), 'team/other', 'local', ['pull', 'push']));
    expect(err.status).toBe(401);
    expect(err.headers['WWW-Authenticate']).toBe(`Bearer realm="${REALM}",service="registry-mirror",scope="repository:team/other:pull,push"`);
  });

  it('treats an anonymous token that lacks the action as anonymous: 401, so the client logs in', async () => {
    const { g } = guard();
    const token = await bearer(g, undefined, 'repository:team/app:pull,push');
    const err = await rejection(g.authorize(req(token), 'team/app', 'local', ['pull']));
    expect(err.status).toBe(401);
    expect(await g.authorize(req(await bearer(g, undefined, 'repository:library/alpine:pull')), 'library/alpine', 'mirror', ['pull'])).toBeUndefined();
  });

  it('treats an expired token as no credentials', async () => {
    const { g, clock } = guard();
    const token = await bearer(g, basic('alice', 'alice-pw'), 'repository:team/app:pull,push');
    clock.now += 300_000;
    expect((await rejection(g.authorize(req(token), 'team/app', 'local', ['push']))).status).toBe(401);
    expect(await g.authorize(req(token), 'library/alpine', 'mirror', ['pull'])).toBeUndefined();
    expect(await g.identify(req(token))).toBeUndefined();
  });

  it('refuses a token from another mirror (another secret)', async () => {
    const { g } = guard();
    const { g: other } = guard();
    const token = await bearer(other, basic('alice', 'alice-pw'), 'repository:team/app:pull,push');
    expect((await rejection(g.authorize(req(token), 'team/app', 'local', ['push']))).status).toBe(401);
  });

  it('accepts tokens across guards that share a configured secret (replicas)', async () => {
    const tokenSecret = 'shared-secret-of-the-replicas-0123456789';
    const { g } = guard({ tokenSecret });
    const { g: replica } = guard({ tokenSecret });
    const token = await bearer(replica, basic('alice', 'alice-pw'), 'repository:team/app:push');
    expect(await g.authorize(req(token), 'team/app', 'local', ['push'])).toBe('alice');
  });
});

describe('ping (GET /v2/)', () => {
  it('is always ok without an htpasswd file: a pure anonymous mirror never challenges', async () => {
    const { g } = guard({ htpasswd: '' });
    expect(g.enabled).toBe(false);
    await expect(g.ping(req())).resolves.toBeUndefined();
    await expect(g.ping(req(basic('alice', 'whatever')))).resolves.toBeUndefined();
  });

  it('challenges a caller without credentials when users exist, with no scope', async () => {
    const { g } = guard();
    expect(g.enabled).toBe(true);
    const err = await rejection(g.ping(req()));
    expect(err.status).toBe(401);
    expect(err.headers).toEqual({ 'WWW-Authenticate': `Bearer realm="${REALM}",service="registry-mirror"` });
  });

  it('challenges wrong credentials and forged tokens, and passes valid Basic or any valid token', async () => {
    const { g } = guard();
    expect((await rejection(g.ping(req(basic('alice', 'nope'))))).status).toBe(401);
    expect((await rejection(g.ping(req('Bearer a.b.c')))).status).toBe(401);
    expect((await rejection(g.ping(req('Digest username="alice"')))).status).toBe(401);
    await expect(g.ping(req(basic('alice', 'alice-pw')))).resolves.toBeUndefined();
    await expect(g.ping(req(await bearer(g, basic('bob', 'bob-pw'))))).resolves.toBeUndefined();
    await expect(g.ping(req(await bearer(g, undefined)))).resolves.toBeUndefined();
  });

  it('derives the realm from the origin the caller used', async () => {
    const { g } = guard();
    const err = await rejection(g.ping({ authorization: undefined, origin: 'https://mirror.internal:8443/' }));
    expect(err.headers['WWW-Authenticate']).toBe('Bearer realm="https://mirror.internal:8443/auth/token",service="registry-mirror"');
  });
});

describe('token service (GET /auth/token)', () => {
  it('answers 200 with token, access_token, expires_in and issued_at', async () => {
    const { g } = guard({ tokenTtlMs: 600_000 });
    const res = await g.token(req(), new URLSearchParams('service=registry-mirror&scope=repository:library/alpine:pull'), kindOf);
    expect(res.status).toBe(200);
    const body = res.body as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'issued_at', 'token']);
    expect(body.access_token).toBe(body.token);
    expect(body.expires_in).toBe(600);
    expect(body.issued_at).toBe('2025-01-01T12:00:00.000Z');
    expect(claimsOf(body)).toMatchObject({
      iss: 'registry-mirror',
      sub: '',
      aud: 'registry-mirror',
      iat: T0 / 1000,
      nbf: T0 / 1000,
      exp: T0 / 1000 + 600,
      access: [{ type: 'repository', name: 'library/alpine', actions: ['pull'] }],
    });
  });

  it('grants the intersection of what was asked and what the rules allow, per scope', async () => {
    const { g } = guard();
    const query = new URLSearchParams({ service: 'registry-mirror', account: 'bob' });
    query.append('scope', 'repository:team/app:pull,push,delete');
    query.append('scope', 'repository:library/alpine:pull,push');
    query.append('scope', 'repository:team/other:push');
    const res = await g.token(req(basic('bob', 'bob-pw')), query, kindOf);
    expect(res.status).toBe(200);
    expect(claimsOf(res.body)).toMatchObject({
      sub: 'bob',
      access: [
        { type: 'repository', name: 'team/app', actions: ['pull'] },
        { type: 'repository', name: 'library/alpine', actions: ['pull'] },
        { type: 'repository', name: 'team/other', actions: [] },
      ],
    });
    const alice = await g.token(req(basic('alice', 'alice-pw')), new URLSearchParams('scope=repository:team/app:pull,push,delete'), kindOf);
    expect(claimsOf(alice.body)).toMatchObject({ sub: 'alice', access: [{ name: 'team/app', actions: ['pull', 'push', 'delete'] }] });
  });

  it('gives an anonymous caller only what anonymous may do', async () => {
    const { g } = guard();
    const res = await g.token(req(), new URLSearchParams('scope=repository:team/app:pull,push&scope=repository:alpine:pull'), kindOf);
    expect(claimsOf(res.body).access).toEqual([
      { type: 'repository', name: 'team/app', actions: [] },
      { type: 'repository', name: 'alpine', actions: ['pull'] },
    ]);
  });

  it('answers a wrong password with 401 UNAUTHORIZED (so docker login fails), without echoing it', async () => {
    const { g } = guard();
    for (const authorization of [basic('alice', 'wrong-pw'), basic('nobody', 'wrong-pw'), 'Basic !!!notbase64', 'Basic ' + Buffer.from('no-colon').toString('base64')]) {
      const res = await g.token(req(authorization), new URLSearchParams('service=registry-mirror'), kindOf);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'incorrect username or password', detail: { service: 'registry-mirror' } }] });
      expect(JSON.stringify(res.body)).not.toContain('wrong-pw');
    }
  });

  it('serves docker login: a token without scopes for good credentials', async () => {
    const { g } = guard();
    const res = await g.token(req(basic('alice', 'alice-pw')), new URLSearchParams('service=registry-mirror&account=alice&client_id=docker&offline_token=true'), kindOf);
    expect(res.status).toBe(200);
    expect(claimsOf(res.body)).toMatchObject({ sub: 'alice', access: [] });
  });

  it('ignores other scope types and invalid names, merges repeated names, reads "*" as every action and takes space-separated scopes', async () => {
    const { g } = guard();
    const query = new URLSearchParams();
    query.append('scope', 'registry:catalog:*');
    query.append('scope', 'repository:Team/App:pull');
    query.append('scope', 'repository:team/app:pull repository:team/app:frobnicate,push');
    query.append('scope', 'repository:team/lib:*');
    const res = await g.token(req(basic('alice', 'alice-pw')), query, kindOf);
    expect(claimsOf(res.body).access).toEqual([
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'team/lib', actions: ['pull', 'push', 'delete'] },
    ]);
  });

  it('asks the caller whether a scope names a local or a mirrored repository', async () => {
    const { g } = guard();
    const asked: string[] = [];
    const res = await g.token(req(basic('alice', 'alice-pw')), new URLSearchParams('scope=repository:team/app:push'), (name) => {
      asked.push(name);
      return 'mirror';
    });
    expect(asked).toEqual(['team/app']);
    expect(claimsOf(res.body).access).toEqual([{ type: 'repository', name: 'team/app', actions: [] }]);
  });

  it('refuses to issue tokens for another service', async () => {
    const { g } = guard();
    const res = await g.token(req(), new URLSearchParams('service=registry.docker.io&scope=repository:library/alpine:pull'), kindOf);
    expect(res.status).toBe(400);
  });
});

describe('identify and allowed', () => {
  it('names the user of valid Basic or Bearer credentials, and nobody otherwise', async () => {
    const { g } = guard();
    expect(await g.identify(req(basic('alice', 'alice-pw')))).toBe('alice');
    expect(await g.identify(req(await bearer(g, basic('bob', 'bob-pw'))))).toBe('bob');
    expect(await g.identify(req(await bearer(g, undefined)))).toBeUndefined();
    expect(await g.identify(req(basic('alice', 'bad')))).toBeUndefined();
    expect(await g.identify(req('Bearer forged'))).toBeUndefined();
    expect(await g.identify(req())).toBeUndefined();
  });

  it('answers from the rules alone', () => {
    const { g } = guard();
    expect(g.allowed('alice', 'team/app', 'local', 'delete')).toBe(true);
    expect(g.allowed('bob', 'team/app', 'local', 'delete')).toBe(false);
    expect(g.allowed(undefined, 'library/alpine', 'mirror', 'pull')).toBe(true);
    expect(g.allowed('alice', 'library/alpine', 'mirror', 'push')).toBe(false);
  });
});

describe('password guessing', () => {
  it('answers 429 with Retry-After once an address has max_failures wrong passwords, without checking the next one', async () => {
    const { g, clock } = guard({ maxFailures: 3, maxUserFailures: 100, failureWindowMs: 60_000 });
    for (let i = 0; i < 3; i++) expect(await g.identify(req(basic('alice', `guess-${i}`), '198.51.100.1'))).toBeUndefined();
    const err = await rejection(g.identify(req(basic('alice', 'alice-pw'), '198.51.100.1')));
    expect(err.status).toBe(429);
    expect(err.code).toBe('TOOMANYREQUESTS');
    expect(err.headers['Retry-After']).toBe('60');
    // Another address is not affected; the locked one is free again after the window.
    expect(await g.identify(req(basic('alice', 'alice-pw'), '198.51.100.2'))).toBe('alice');
    clock.now += 60_000;
    expect(await g.identify(req(basic('alice', 'alice-pw'), '198.51.100.1'))).toBe('alice');
  });

  it('locks a user after max_user_failures wrong passwords from any addresses, for everyone, for the window', async () => {
    const { g, clock } = guard({ maxFailures: 3, maxUserFailures: 5, failureWindowMs: 60_000 });
    for (let i = 0; i < 5; i++) await g.identify(req(basic('bob', 'guess'), `203.0.113.${i}`));
    const err = await rejection(g.token(req(basic('bob', 'bob-pw'), '192.0.2.200'), new URLSearchParams(), kindOf));
    expect(err.status).toBe(429);
    expect(Number(err.headers['Retry-After'])).toBeGreaterThan(0);
    // Other users log in from the same address; issued tokens are no password checks.
    expect(await g.identify(req(basic('alice', 'alice-pw'), '192.0.2.200'))).toBe('alice');
    clock.now += 61_000;
    expect(await g.identify(req(basic('bob', 'bob-pw'), '192.0.2.200'))).toBe('bob');
  });
});

describe('admin surfaces', () => {
  const admins = { admins: ['alice'] };

  it('lets an admin in with Basic or with a token, and refuses a non-admin with 403 DENIED', async () => {
    const { g } = guard(admins);
    await g.admin(req(basic('alice', 'alice-pw')), 'admin');
    await g.admin(req(await bearer(g, basic('alice', 'alice-pw'))), 'metrics');
    const err = await rejection(g.admin(req(basic('bob', 'bob-pw')), 'admin'));
    expect(err.status).toBe(403);
    expect(err.code).toBe('DENIED');
  });

  it('answers an anonymous caller 401 with a Basic challenge and a detail, also on loopback, when admins can log in', async () => {
    const { g } = guard(admins);
    for (const loopback of [false, true]) {
      const err = await rejection(g.admin(req(undefined, '127.0.0.1', loopback), 'admin'));
      expect(err.status).toBe(401);
      expect(err.headers['WWW-Authenticate']).toMatch(/^Basic realm="/);
      expect(err.toJSON().errors[0]!.detail).toBeDefined();
    }
  });

  it('with no admin who can log in, serves loopback callers only (403 to others)', async () => {
    for (const overrides of [{ htpasswd: '' }, { admins: [] }]) {
      const { g } = guard(overrides);
      await g.admin(req(undefined, '127.0.0.1', true), 'admin');
      const err = await rejection(g.admin(req(undefined, '203.0.113.1', false), 'metrics'));
      expect(err.status).toBe(403);
      expect(err.message).toMatch(/loopback/);
    }
  });

  it('opens /metrics (not /admin) to anyone with metrics_anonymous', async () => {
    const { g } = guard({ ...admins, metricsAnonymous: true });
    await g.admin(req(undefined, '203.0.113.1'), 'metrics');
    expect((await rejection(g.admin(req(undefined, '203.0.113.1'), 'admin'))).status).toBe(401);
  });
});
