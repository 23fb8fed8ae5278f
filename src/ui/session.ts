import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The console's session cookie and CSRF tokens, stateless so that any replica sharing the
 * token secret accepts them: `<payload>.<mac>`, the payload base64url JSON of the user,
 * expiry and a random nonce, the MAC an HMAC-SHA256 under a key derived from the token
 * secret for this purpose alone (AuthGuard.keyFor). Nothing in the cookie is secret; it
 * cannot be forged or extended without the key.
 *
 * CSRF tokens are an HMAC of the nonce they protect: the session's nonce once signed in,
 * before that a random nonce in its own cookie (the sign-in form). A page embeds the
 * token in every form; a POST must carry the token that matches the cookie it came with.
 */

export interface Session {
  user: string;
  /** Epoch ms. */
  expires: number;
  nonce: string;
}

export interface Sessions {
  issue(user: string): { cookieValue: string; session: Session };
  /** The session in a cookie value, or undefined when it is malformed, forged or expired. */
  read(cookieValue: string | undefined): Session | undefined;
  /** The CSRF token for a nonce (a session's, or the pre-session cookie's). */
  csrfFor(nonce: string): string;
  /** Does `token` belong to `nonce`? Constant time. */
  csrfMatches(nonce: string, token: string | undefined): boolean;
  /** A fresh random nonce (the pre-session CSRF cookie). */
  nonce(): string;
}

/** The largest cookie value read at all: a bound on the work a forged cookie can cause. */
const MAX_COOKIE = 1024;

export function createSessions(opts: { key: Buffer; ttlMs: number; now: () => number }): Sessions {
  const mac = (purpose: string, data: string) => createHmac('sha256', opts.key).update(`${purpose}\n${data}`).digest('base64url');
  const same = (a: string, b: string) => {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && timingSafeEqual(x, y);
  };
  const nonce = () => randomBytes(18).toString('base64url');

  return {
    issue(user) {
      const session: Session = { user, expires: opts.now() + opts.ttlMs, nonce: nonce() };
      const payload = Buffer.from(JSON.stringify({ u: user, e: session.expires, n: session.nonce })).toString('base64url');
      return { session, cookieValue: `${payload}.${mac('session', payload)}` };
    },

    read(value) {
      if (value === undefined || value.length > MAX_COOKIE) return undefined;
      const dot = value.indexOf('.');
      if (dot <= 0) return undefined;
      const payload = value.slice(0, dot);
      if (!same(value.slice(dot + 1), mac('session', payload))) return undefined;
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      } catch {
        return undefined;
      }
      const { u, e, n } = (parsed ?? {}) as { u?: unknown; e?: unknown; n?: unknown };
      if (typeof u !== 'string' || typeof e !== 'number' || typeof n !== 'string') return undefined;
      if (e <= opts.now()) return undefined;
      return { user: u, expires: e, nonce: n };
    },

    csrfFor: (n) => mac('csrf', n),
    csrfMatches: (n, token) => typeof token === 'string' && token.length < 200 && same(token, mac('csrf', n)),
    nonce,
  };
}
