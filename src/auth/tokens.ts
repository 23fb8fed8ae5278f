import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Bearer tokens of the Docker token protocol, as compact JWTs (RFC 7519) signed with
 * HS256 (HMAC-SHA256) under a secret only this mirror (and its replicas) knows: the token
 * service and the registry are the same program, so no key pair is needed.
 * https://distribution.github.io/distribution/spec/auth/jwt/
 */
export const TOKEN_ISSUER = 'registry-mirror';

/** One entry of the `access` claim: what the token grants on one resource. */
export interface TokenAccess {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenClaims {
  iss: string;
  /** The user, or "" for an anonymous token. */
  sub: string;
  /** The service the token is for (the `service` of the challenge). */
  aud: string;
  /** Seconds since the epoch. */
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: TokenAccess[];
}

/** Tolerated clock difference between replicas for `nbf`. */
const NBF_LEEWAY_S = 60;
/** Anything longer is not one of ours; refuse before hashing it. */
const MAX_TOKEN_LENGTH = 16 * 1024;
const HEADER = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
const B64URL_RE = /^[A-Za-z0-9_-]+$/;

function b64url(text: string | Buffer): string {
  return Buffer.from(text).toString('base64url');
}

function hmac(secret: Buffer, data: string): Buffer {
  return createHmac('sha256', secret).update(data).digest();
}

export function signToken(claims: TokenClaims, secret: Buffer): string {
  const body = `${HEADER}.${b64url(JSON.stringify(claims))}`;
  return `${body}.${hmac(secret, body).toString('base64url')}`;
}

export interface IssueOptions {
  secret: Buffer;
  /** The user, or "" for anonymous. */
  subject: string;
  audience: string;
  access: TokenAccess[];
  ttlMs: number;
  nowMs: number;
}

/** Signs a fresh token valid from now for `ttlMs`. */
export function issueToken(opts: IssueOptions): { token: string; claims: TokenClaims } {
  const iat = Math.floor(opts.nowMs / 1000);
  const claims: TokenClaims = {
    iss: TOKEN_ISSUER,
    sub: opts.subject,
    aud: opts.audience,
    exp: iat + Math.max(1, Math.floor(opts.ttlMs / 1000)),
    nbf: iat,
    iat,
    jti: randomBytes(16).toString('base64url'),
    access: opts.access,
  };
  return { token: signToken(claims, opts.secret), claims };
}

/**
 * The claims of a token this mirror signed for `audience`, still valid at `nowMs`;
 * undefined for anything else (malformed, other algorithm, forged, expired, not yet
 * valid, other issuer or audience). Never throws: a bad token is no credential.
 */
export function verifyToken(token: string, secret: Buffer, opts: { audience: string; nowMs: number }): TokenClaims | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL_RE.test(p))) return undefined;
  const [header, payload, signature] = parts as [string, string, string];

  // Signature first, in constant time, before anything of the token is trusted.
  const expected = hmac(secret, `${header}.${payload}`);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;

  const head = parseJson(header);
  if (!isRecord(head) || head.alg !== 'HS256') return undefined;
  const claims = parseJson(payload);
  if (!isClaims(claims)) return undefined;
  const now = Math.floor(opts.nowMs / 1000);
  if (claims.iss !== TOKEN_ISSUER || claims.aud !== opts.audience) return undefined;
  if (now >= claims.exp || claims.nbf > now + NBF_LEEWAY_S) return undefined;
  return claims;
}

function parseJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isClaims(v: unknown): v is TokenClaims {
  if (!isRecord(v)) return false;
  const strings = ['iss', 'sub', 'aud', 'jti'].every((k) => typeof v[k] === 'string');
  const numbers = ['exp', 'nbf', 'iat'].every((k) => typeof v[k] === 'number');
  const access =
    Array.isArray(v.access) &&
    v.access.every(
      (a) => isRecord(a) && typeof a.type === 'string' && typeof a.name === 'string' && Array.isArray(a.actions) && a.actions.every((x) => typeof x === 'string'),
    );
  return strings && numbers && access;
}

/** Where the generated secret lives, beside the data it protects. */
export const SECRET_FILE = 'token-secret';
const MIN_SECRET_LENGTH = 32;

/**
 * The token signing key: the configured one, or the contents of
 * `<storagePath>/token-secret`, created (mode 0600, 32 random bytes as hex) when missing.
 * Replicas sharing the storage path share the key. Synchronous: called once at startup.
 */
export function loadOrCreateSecret(storagePath: string, configured: string): Buffer {
  if (configured !== '') {
    if (configured.length < MIN_SECRET_LENGTH) throw new Error(`auth.token_secret must be at least ${MIN_SECRET_LENGTH} characters`);
    return Buffer.from(configured, 'utf8');
  }
  const path = join(storagePath, SECRET_FILE);
  mkdirSync(storagePath, { recursive: true });
  // Written whole to a temp file, then linked into place: link() fails when the file
  // exists, so a key another replica just made is never overwritten or read half-written.
  if (!existsSync(path)) {
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    writeFileSync(tmp, randomBytes(32).toString('hex') + '\n', { flag: 'wx', mode: 0o600 });
    try {
      linkSync(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  const secret = readFileSync(path, 'utf8').trim();
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new Error(`${path} holds no usable token secret (under ${MIN_SECRET_LENGTH} characters); delete it and a new one is made`);
  }
  return Buffer.from(secret, 'utf8');
}
