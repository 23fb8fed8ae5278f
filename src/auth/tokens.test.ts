import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET_FILE, TOKEN_ISSUER, issueToken, loadOrCreateSecret, signToken, verifyToken, type TokenClaims } from './tokens.js';

const SECRET = Buffer.from('0123456789abcdef0123456789abcdef');
const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);
const ACCESS = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }];

function issue(overrides: { ttlMs?: number; nowMs?: number; subject?: string } = {}) {
  return issueToken({ secret: SECRET, subject: overrides.subject ?? 'alice', audience: 'registry-mirror', access: ACCESS, ttlMs: overrides.ttlMs ?? 300_000, nowMs: overrides.nowMs ?? NOW });
}

const verify = (token: string, at = NOW, secret = SECRET) => verifyToken(token, secret, { audience: 'registry-mirror', nowMs: at });

/** The claims of a token, read without checking it. */
function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}

describe('tokens', () => {
  it('round-trips: a fresh token verifies to the claims it was issued with', () => {
    const { token, claims } = issue();
    expect(token.split('.')).toHaveLength(3);
    expect(claims).toMatchObject({ iss: TOKEN_ISSUER, sub: 'alice', aud: 'registry-mirror', iat: NOW / 1000, nbf: NOW / 1000, exp: NOW / 1000 + 300, access: ACCESS });
    expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(verify(token)).toEqual(claims);
    expect(payloadOf(token)).toEqual(claims);
  });

  it('is a compact JWT with an HS256 header', () => {
    const header = JSON.parse(Buffer.from(issue().token.split('.')[0]!, 'base64url').toString('utf8'));
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' });
  });

  it('gives every token its own jti', () => {
    expect(issue().claims.jti).not.toBe(issue().claims.jti);
  });

  it('is valid until exp and refused from exp on', () => {
    const { token } = issue({ ttlMs: 60_000 });
    expect(verify(token, NOW + 59_999)).toBeDefined();
    expect(verify(token, NOW + 60_000)).toBeUndefined();
    expect(verify(token, NOW + 3_600_000)).toBeUndefined();
  });

  it('refuses a token that is not yet valid (beyond a minute of clock skew)', () => {
    const { token } = issue({ nowMs: NOW + 3_600_000 });
    expect(verify(token, NOW)).toBeUndefined();
    expect(verify(token, NOW + 3_600_000 - 30_000)).toBeDefined();
  });

  it('refuses a tampered signature', () => {
    const { token } = issue();
    const [h, p, s] = token.split('.') as [string, string, string];
    const flipped = (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    expect(verify(`${h}.${p}.${flipped}`)).toBeUndefined();
    expect(verify(`${h}.${p}.${s.slice(0, -2)}`)).toBeUndefined();
    expect(verify(`${h}.${p}.`)).toBeUndefined();
  });

  it('refuses tampered claims under the original signature (more actions, longer life)', () => {
    const { token, claims } = issue();
    const [h, , s] = token.split('.') as [string, string, string];
    const widened = { ...claims, access: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push', 'delete'] }] };
    const longer = { ...claims, exp: claims.exp + 86_400 };
    for (const forged of [widened, longer]) {
      expect(verify(`${h}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${s}`)).toBeUndefined();
    }
  });

  it('refuses a token signed with another secret', () => {
    const { token } = issue();
    expect(verify(token, NOW, Buffer.from('another-secret-another-secret-xx'))).toBeUndefined();
  });

  it('refuses alg "none" and other issuers or audiences, even when correctly signed', () => {
    const { claims } = issue();
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    expect(verify(none)).toBeUndefined();
    // A header naming another algorithm is refused even under a valid HMAC-SHA256 signature.
    const body = `${Buffer.from(JSON.stringify({ alg: 'HS512', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    expect(verify(`${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`)).toBeUndefined();
    const other: TokenClaims = { ...claims, iss: 'someone-else' };
    expect(verify(signToken(other, SECRET))).toBeUndefined();
    expect(verifyToken(signToken(claims, SECRET), SECRET, { audience: 'registry.docker.io', nowMs: NOW })).toBeUndefined();
    expect(verify(signToken(claims, SECRET))).toBeDefined();
  });

  it('refuses correctly signed claims of the wrong shape, and garbage', () => {
    const { claims } = issue();
    const bad = { ...claims, access: [{ type: 'repository', name: 'team/app', actions: 'pull' }] } as unknown as TokenClaims;
    expect(verify(signToken(bad, SECRET))).toBeUndefined();
    for (const garbage of ['', 'a.b', 'a.b.c.d', 'not a token', '...', 'x'.repeat(20_000)]) {
      expect(verify(garbage)).toBeUndefined();
    }
  });
});

describe('loadOrCreateSecret', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mirror-secret-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates <storage>/token-secret with mode 0600 when missing, and reuses it after', () => {
    const storage = join(dir, 'data-1');
    const first = loadOrCreateSecret(storage, '');
    const path = join(storage, SECRET_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(first.toString('utf8')).toBe(readFileSync(path, 'utf8').trim());
    expect(first.length).toBeGreaterThanOrEqual(32);
    expect(loadOrCreateSecret(storage, '').equals(first)).toBe(true);
  });

  it('makes a different secret for each new storage directory', () => {
    expect(loadOrCreateSecret(join(dir, 'data-2'), '').equals(loadOrCreateSecret(join(dir, 'data-3'), ''))).toBe(false);
  });

  it('uses the configured secret and writes no file', () => {
    const storage = join(dir, 'data-4');
    const configured = 'a-configured-secret-of-32-chars!';
    expect(loadOrCreateSecret(storage, configured).toString('utf8')).toBe(configured);
    expect(() => statSync(join(storage, SECRET_FILE))).toThrow(/ENOENT/);
  });

  it('refuses a short configured secret and an empty secret file', () => {
    expect(() => loadOrCreateSecret(join(dir, 'data-5'), 'short')).toThrow(/auth.token_secret must be at least 32 characters/);
    const storage = join(dir, 'data-6');
    loadOrCreateSecret(storage, '');
    writeFileSync(join(storage, SECRET_FILE), '\n');
    expect(() => loadOrCreateSecret(storage, '')).toThrow(/holds no usable token secret/);
  });
});
