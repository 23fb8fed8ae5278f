import { isIP } from 'node:net';
import { LRUCache } from 'lru-cache';
import type { Dispatcher } from 'undici';
import { request } from './undici-lean.js';
import { OciError } from '../oci/errors.js';
import { addressRefused, normaliseHost, type AddressPolicy } from './address-policy.js';
import type { UpstreamSecret } from './credentials.js';
import { toUpstreamError, type UpstreamErrorDetail } from './errors.js';
import { parseJsonObject } from './json-object.js';

/**
 * Bearer tokens for the Docker/Distribution token flow:
 *   GET <realm>?service=<service>&scope=<scope>[&scope=...]
 * with Basic credentials when configured, anonymous otherwise.
 * https://distribution.github.io/distribution/spec/auth/token/
 *
 * Credentials go only to a realm on https or on the upstream's own host: the realm is
 * named by the upstream's challenge, and a hostile or intercepted (plain http) answer
 * must not collect the account's password. Elsewhere the token is asked for anonymously,
 * with a warning. A realm at a literal non-public address is refused before any dial
 * (address-policy.ts); names are checked by the connector when dialled.
 *
 * Tokens are cached per (realm, service, scopes, username) until shortly before they
 * expire, and concurrent requests for the same token share one fetch: a burst of
 * pulls after a cold start must not become a burst of token requests (Docker Hub
 * rate-limits those too).
 */

/** What identifies a token: where it comes from and what it grants. */
export interface TokenRequest {
  /** Token service URL, from the upstream's challenge. */
  readonly realm: string;
  /** From the challenge; omitted from the query when the challenge had none. */
  readonly service?: string;
  /** One `scope` query parameter each, e.g. "repository:library/alpine:pull". */
  readonly scopes: readonly string[];
}

export interface TokenCacheOptions {
  /** Upstream name, for error details. */
  readonly upstream: string;
  /** Connection pool the token requests go through (carries the timeouts). */
  readonly dispatcher: Dispatcher;
  readonly username?: string;
  readonly password?: string;
  readonly userAgent?: string;
  /** Hostname of the upstream's URL: a realm there may get the credentials over plain http. */
  readonly ownHost?: string;
  /** More such hostnames: the upstream's other configured endpoints (issue 10). */
  readonly ownHosts?: readonly string[];
  /** Which realm hosts may be dialled. Default: any. */
  readonly policy?: AddressPolicy;
  /** Told when credentials are withheld from a realm. */
  readonly onWarning?: (message: string, fields: Record<string, unknown>) => void;
  /** How long a token request took to its response headers, in seconds (the latency histogram). */
  readonly onResponse?: (seconds: number) => void;
  /** Most tokens kept (LRU). Default 1000. */
  readonly max?: number;
  /** A token is dropped this long before it expires, so it never expires in flight. Default 10 s. */
  readonly marginMs?: number;
  /** Clock, for tests. Default Date.now. */
  readonly now?: () => number;
}

/** The shortest lifetime we assume: the token spec says to treat less than 60 s as 60 s. */
const MIN_EXPIRES_IN_S = 60;

interface CachedToken {
  readonly token: string;
  /** Local clock time after which the token is not used any more (expiry minus margin). */
  readonly useUntil: number;
}

/** A cache of Bearer tokens with single-flight fetching. */
export class TokenCache {
  readonly #options: TokenCacheOptions;
  readonly #cache: LRUCache<string, CachedToken>;
  readonly #inflight = new Map<string, Promise<string>>();
  readonly #now: () => number;
  readonly #marginMs: number;

  constructor(options: TokenCacheOptions) {
    this.#options = options;
    this.#cache = new LRUCache({ max: options.max ?? 1000 });
    this.#now = options.now ?? Date.now;
    this.#marginMs = options.marginMs ?? 10_000;
  }

  /** The cached, still-valid token for this request (fetched with `secret`), without fetching. */
  peek(req: TokenRequest, secret?: UpstreamSecret): string | undefined {
    const key = this.#key(req, secret);
    const hit = this.#cache.get(key);
    if (!hit) return undefined;
    // Expiry is checked here against our clock rather than by lru-cache TTLs, so an
    // injected clock in tests governs it.
    if (this.#now() >= hit.useUntil) {
      this.#cache.delete(key);
      return undefined;
    }
    return hit.token;
  }

  /**
   * A valid token for this request: cached, joined to a fetch already in flight, or fetched.
   * `rejected` is a token the upstream just refused (401): if it is the cached one it is
   * dropped first, so a revoked token is never handed out again. `secret`: the credentials
   * to ask with, instead of the configured username/password (a password is sent as Basic;
   * a token is exchanged as an OAuth2 refresh token, docker's identity-token flow).
   * Throws OciError: UPSTREAM_UNAVAILABLE / UPSTREAM_TIMEOUT when the token service cannot
   * be reached or answers an error (its status in `detail.status`), TOOMANYREQUESTS on 429.
   */
  async get(req: TokenRequest, options: { rejected?: string; secret?: UpstreamSecret } = {}): Promise<string> {
    const { secret } = options;
    const key = this.#key(req, secret);
    if (options.rejected !== undefined && this.#cache.get(key)?.token === options.rejected) {
      this.#cache.delete(key);
    }
    const cached = this.peek(req, secret);
    if (cached !== undefined) return cached;

    const pending = this.#inflight.get(key);
    if (pending) return pending;

    const fetching = this.#fetch(req, secret).then(
      (t) => {
        this.#cache.set(key, t);
        return t.token;
      },
    );
    this.#inflight.set(key, fetching);
    // Whatever the outcome, the next caller after this one starts afresh.
    const clear = (): void => {
      if (this.#inflight.get(key) === fetching) this.#inflight.delete(key);
    };
    fetching.then(clear, clear);
    return fetching;
  }

  /** Forgets every cached token. */
  clear(): void {
    this.#cache.clear();
  }

  #key(req: TokenRequest, secret: UpstreamSecret | undefined): string {
    // Scope order does not change what a token grants.
    const scopes = [...req.scopes].sort().join(' ');
    // Who asked: a rotated password or helper answer must not be served a token of the old
    // one's account. The secret itself is never part of the key (keys may be dumped).
    const who = secret === undefined ? this.#options.username ?? '' : secret.kind === 'password' ? `u:${secret.username}` : 't';
    return JSON.stringify([req.realm, req.service ?? '', scopes, who]);
  }

  /** True when the configured credentials may be sent to this realm (https, or the upstream's own host). */
  #mayAuthenticate(realm: URL): boolean {
    const { ownHost, ownHosts = [] } = this.#options;
    const host = normaliseHost(realm.hostname);
    return realm.protocol === 'https:' || [...(ownHost !== undefined ? [ownHost] : []), ...ownHosts].some((h) => normaliseHost(h) === host);
  }

  async #fetch(req: TokenRequest, secret: UpstreamSecret | undefined): Promise<CachedToken> {
    const { upstream, dispatcher, userAgent } = this.#options;
    const username = secret ? (secret.kind === 'password' ? secret.username : undefined) : this.#options.username;
    const password = secret ? (secret.kind === 'password' ? secret.password : undefined) : this.#options.password;
    const identityToken = secret?.kind === 'token' ? secret.token : undefined;
    const url = new URL(req.realm);
    if (req.service !== undefined) url.searchParams.set('service', req.service);
    for (const scope of req.scopes) url.searchParams.append('scope', scope);

    const { policy, onWarning } = this.#options;
    if (policy && isIP(normaliseHost(url.hostname)) !== 0 && !policy.allows(url.hostname, url.hostname)) {
      const detail: UpstreamErrorDetail = { upstream, reason: 'token realm refused' };
      throw new OciError('UPSTREAM_UNAVAILABLE', { detail, cause: addressRefused(url.hostname) });
    }

    const headers: Record<string, string> = { accept: 'application/json' };
    if (userAgent) headers['user-agent'] = userAgent;
    let form: string | undefined;
    if ((username !== undefined && password !== undefined) || identityToken !== undefined) {
      if (this.#mayAuthenticate(url) && identityToken !== undefined) {
        // OAuth2 refresh-token grant, as docker sends an identity token:
        // https://distribution.github.io/distribution/spec/auth/oauth/
        const body = new URLSearchParams({ grant_type: 'refresh_token', client_id: userAgent ?? 'registry-mirror', refresh_token: identityToken });
        if (req.service !== undefined) body.set('service', req.service);
        if (req.scopes.length > 0) body.set('scope', req.scopes.join(' '));
        form = body.toString();
        headers['content-type'] = 'application/x-www-form-urlencoded';
      } else if (this.#mayAuthenticate(url)) {
        headers['authorization'] = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
      } else {
        onWarning?.('token realm is neither https nor the upstream host; asking for a token without credentials', {
          upstream, realm: url.origin,
        });
      }
    }

    const sentAt = this.#now();
    let status: number;
    let text: string;
    try {
      const started = performance.now();
      const res = form === undefined
        ? await request(url, { method: 'GET', headers, dispatcher })
        : await request(`${url.origin}${url.pathname}`, { method: 'POST', headers, body: form, dispatcher });
      this.#options.onResponse?.((performance.now() - started) / 1000);
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw toUpstreamError(err, upstream);
    }

    if (status < 200 || status > 299) {
      const detail: UpstreamErrorDetail = { upstream, reason: `token service answered ${status}`, status };
      throw new OciError(status === 429 ? 'TOOMANYREQUESTS' : 'UPSTREAM_UNAVAILABLE', { detail });
    }

    const token = parseTokenResponse(text);
    if (!token) {
      const detail: UpstreamErrorDetail = { upstream, reason: 'token service answered without a token', status };
      throw new OciError('UPSTREAM_UNAVAILABLE', { detail });
    }
    // Lifetime counts from when we sent the request, on our clock: `issued_at` is the
    // token server's clock, and skew between the two must not make us use a dead token.
    const useUntil = sentAt + token.expiresInS * 1000 - this.#marginMs;
    return { token: token.token, useUntil };
  }
}

/** The fields of a token response we use. */
export interface TokenResponse {
  readonly token: string;
  /** Seconds; at least 60. */
  readonly expiresInS: number;
}

/**
 * Reads a token service's JSON answer: `access_token` (OAuth2 name) wins over `token`
 * (Docker's name); `expires_in` under 60 s or missing counts as 60 s.
 * Returns undefined when there is no usable token.
 */
export function parseTokenResponse(text: string): TokenResponse | undefined {
  const o = parseJsonObject(text);
  if (o === undefined) return undefined;
  const token =
    typeof o['access_token'] === 'string' && o['access_token'] !== ''
      ? o['access_token']
      : typeof o['token'] === 'string' && o['token'] !== ''
        ? o['token']
        : undefined;
  if (token === undefined) return undefined;
  const raw = typeof o['expires_in'] === 'number' && Number.isFinite(o['expires_in']) ? o['expires_in'] : 0;
  return { token, expiresInS: Math.max(raw, MIN_EXPIRES_IN_S) };
}
