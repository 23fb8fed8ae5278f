import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { UpstreamConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { OciError } from '../oci/errors.js';
import { MANIFEST_ACCEPT } from '../oci/manifest.js';
import { createAddressPolicy, createGuardedConnector } from './address-policy.js';
import { createCredentialSource, type CredentialSource } from './credentials.js';
import { createRegistryAuth, type Credential, type RegistryAuth } from './credentials-auth.js';
import { bodyDeadlineError, toUpstreamError, type UpstreamErrorDetail } from './errors.js';
import { endpointUrls, Endpoints, type Endpoint } from './endpoints.js';
import { upstreamHealth, type UpstreamHealth } from './health.js';
import { drain, firstValue, followRedirects } from './redirects.js';
import { RateLimitBudget, rateLimitedError } from './rate-limit-budget.js';
import { createSlots, type Background } from './slots.js';
import { tlsOptions } from './tls-options.js';
import type { UpstreamRequestKind, UpstreamTiming } from './timing.js';
import { TokenCache } from './token-cache.js';
import { Agent } from './undici-lean.js';

/**
 * The HTTP client towards one upstream registry (Docker Hub, ghcr.io, ...): one undici
 * connection pool, token auth with a token cache, redirects to blob CDNs, a concurrency
 * bound, and network failures translated into OciErrors. It does not interpret statuses:
 * a 404 or 429 is the caller's (proxy/) decision.
 */

/** An upstream's answer. Names in `headers` are lower-case; a repeated header keeps its first value. */
export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | undefined>;
  /** Always consume or destroy it: it holds a concurrency slot and a connection until it ends. */
  body: Readable;
  /** Blob GETs: the bounds the reader must enforce on the whole transfer (see TransferLimits). */
  limits?: TransferLimits;
  /**
   * Call when the body turned out not to be what was asked for (digest or size mismatch):
   * the endpoint that sent it is skipped for a while (its breaker opens), so a retry goes
   * to the next endpoint.
   */
  badContent?: () => void;
}

/**
 * Bounds on one long transfer (a blob fill), from the upstream's config. The undici
 * bodyTimeout only bounds the pause between two chunks, so an upstream trickling one byte
 * per pause would hold a fill and an upstream slot forever; the reader, which counts the
 * bytes anyway, aborts when either bound is broken. 0 disables a bound.
 */
export interface TransferLimits {
  /** The whole transfer must end within this long of its response head. */
  readonly deadlineMs: number;
  /** Bytes per second, averaged over each `windowMs` after the first (a grace period). */
  readonly minBytesPerSecond: number;
  readonly windowMs: number;
}

export type { UpstreamHealth } from './health.js';

/** One upstream registry, as the proxy sees it. */
export interface UpstreamClient {
  readonly config: UpstreamConfig;
  /** The pull budget the upstream last announced (ratelimit-* headers), for eager prefetch. */
  readonly rateLimit: RateLimitBudget;
  /**
   * HEAD or GET /v2/<repo>/manifests/<reference>, accepting the Docker and OCI manifest and
   * index types. The body must end within `timeout` of its head (else it errors).
   * `background`: a prefetch, which yields upstream slots to client requests (upstream/slots.ts).
   */
  manifest(method: 'HEAD' | 'GET', repo: string, reference: string, options?: { background?: Background }): Promise<UpstreamResponse>;
  /**
   * HEAD or GET /v2/<repo>/blobs/<digest>. Follows redirects (≤ 5 hops) and never sends
   * Authorization to a host other than the registry's. `range` is a Range header value.
   */
  blob(method: 'HEAD' | 'GET', repo: string, digest: string, options?: { range?: string; background?: Background }): Promise<UpstreamResponse>;
  /** GET /v2/<repo>/tags/list?n=&last= ; the body must end within `timeout` of its head. */
  tags(repo: string, query: { n?: number; last?: string }): Promise<UpstreamResponse>;
  /** Rate limit and endpoint breakers, for stats. */
  health(): UpstreamHealth;
  /** Waits up to `timeoutMs` for transfers in flight, then tears the pool down. */
  close(): Promise<void>;
}

export interface UpstreamClientOptions {
  /**
   * Use this dispatcher instead of a new Agent (tests, a shared pool). It is not closed by
   * close(), and it dials without the address check of the built-in one (only literal-IP
   * redirect targets and realms are still refused).
   */
  dispatcher?: Dispatcher;
  /** Where warnings go (credentials withheld from a realm). */
  log?: Logger;
  /** The upstream's credentials instead of those built from config (tests). */
  credentials?: CredentialSource;
  /** Environment credential helpers run with (PATH finds them). Default: the process's. */
  env?: NodeJS.ProcessEnv;
  /** The clock of breakers and the rate limit (tests move it). Default Date.now. */
  now?: () => number;
  /** Told how long each request (and token request) took to its response headers (mirror_upstream_request_duration_seconds). */
  timing?: UpstreamTiming;
}

export const USER_AGENT = 'registry-mirror/0.1';


const MAX_REDIRECTS = 5;

/** Creates the client for one upstream. */
export function createUpstreamClient(config: UpstreamConfig, options: UpstreamClientOptions = {}): UpstreamClient {
  const ownsDispatcher = options.dispatcher === undefined;
  // Every dial (registry, token realm, redirect target) goes through the address check.
  // Every endpoint is operator-configured, so each may be dialled at any address.
  const policy = createAddressPolicy(config.url, [...config.redirectAllow, ...endpointUrls(config).map((u) => new URL(u).hostname)]);
  const dispatcher: Dispatcher =
    options.dispatcher ??
    new Agent({
      connect: createGuardedConnector(policy, config.connectTimeoutMs, tlsOptions(config, options.log)),
      headersTimeout: config.timeoutMs,
      // Longest pause between body chunks: a stalled transfer errors instead of hanging forever.
      bodyTimeout: config.timeoutMs,
    });
  const now = options.now ?? Date.now;
  const { timing } = options;
  const endpoints = new Endpoints(config, now);
  const base = endpoints.list[0]!.base;
  const limits: TransferLimits = {
    deadlineMs: config.fillDeadlineMs,
    minBytesPerSecond: config.minThroughput,
    windowMs: config.throughputWindowMs,
  };
  // Asked on use, never held here: a rotated password file or a helper's fresh answer
  // applies to the next request.
  const credentials =
    options.credentials ?? createCredentialSource(config, { ...(options.log ? { log: options.log } : {}), ...(options.env ? { env: options.env } : {}) });
  const tokens = new TokenCache({
    upstream: config.name,
    dispatcher,
    userAgent: USER_AGENT,
    ownHost: new URL(base).hostname,
    ownHosts: endpoints.list.map((ep) => new URL(ep.base).hostname),
    policy,
    onWarning: (message, fields) => options.log?.warn(message, fields),
    ...(timing ? { onResponse: (seconds: number) => timing('token', seconds) } : {}),
  });
  const slots = createSlots(config.concurrency);
  const rateLimit = new RateLimitBudget(now);
  let closed = false;
  // Each endpoint learns its own challenge (a nearer mirror and the registry may differ).
  const auths = new Map<Endpoint, RegistryAuth>();
  const authOf = (ep: Endpoint): RegistryAuth => {
    let auth = auths.get(ep);
    if (!auth) auths.set(ep, (auth = createRegistryAuth(config.name, credentials, tokens)));
    return auth;
  };

  /** Sends one request, following redirects; Authorization only ever goes to the registry's origin. */
  function follow(ep: Endpoint, method: 'HEAD' | 'GET', url: string, headers: Record<string, string>, credential: Credential | undefined) {
    return followRedirects(method, url, headers, {
      dispatcher,
      trustedOrigin: ep.origin,
      maxRedirects: MAX_REDIRECTS,
      upstream: config.name,
      policy,
      ...(credential ? { authorization: credential.header } : {}),
    });
  }

  /** One logical request: cached credentials, then at most one retry after a 401 challenge. */
  async function exchange(
    ep: Endpoint,
    method: 'HEAD' | 'GET',
    repo: string,
    path: string,
    extraHeaders: Record<string, string>,
  ): Promise<Dispatcher.ResponseData> {
    const url = `${ep.base}${path}`;
    const headers = { 'user-agent': USER_AGENT, ...extraHeaders };
    const auth = authOf(ep);
    const credential = await auth.first(repo);
    const first = await follow(ep, method, url, headers, credential);
    // Only the registry's own 401 is a challenge to us; a CDN's 401 is just an answer.
    if (first.res.statusCode !== 401 || new URL(first.url).origin !== ep.origin) return first.res;

    const retry = await auth.challenged(first.res.headers['www-authenticate'], repo, credential, () => drain(first.res.body));
    if (!retry) return first.res;
    return (await follow(ep, method, url, headers, retry)).res;
  }

  /** Runs one request inside a concurrency slot and hands back a response that frees the slot when done. */
  async function send(
    kind: UpstreamRequestKind,
    method: 'HEAD' | 'GET',
    repo: string,
    path: string,
    headers: Record<string, string> = {},
    wholeBodyMs = 0,
    background?: Background,
  ): Promise<UpstreamResponse> {
    if (closed) throw upstreamError('client closed');
    // Never before a 429's Retry-After: the caller serves cached content or passes the 429 on.
    if (rateLimit.limitedUntil !== 0) throw rateLimitedError(config.name, rateLimit);
    const release = await slots.acquire(background);
    let res: Dispatcher.ResponseData;
    let endpoint: Endpoint;
    try {
      if (rateLimit.limitedUntil !== 0) throw rateLimitedError(config.name, rateLimit);
      // From the slot (our own queue is not the upstream's latency) to the response head,
      // redirects, a 401 challenge and its retry included; failures count as errors instead.
      const started = performance.now();
      ({ res, endpoint } = await endpoints.send((ep) => exchange(ep, method, repo, path, headers)));
      timing?.(kind, (performance.now() - started) / 1000);
    } catch (err) {
      release();
      throw toUpstreamError(err, config.name);
    }
    const out = {
      status: res.statusCode, headers: flattenHeaders(res.headers), badContent: () => endpoint.breaker.trip(),
    };
    rateLimit.observe(out.status, out.headers);
    if (method === 'HEAD') {
      // Nothing to read, but the connection goes back to the pool only once the (empty)
      // body is consumed.
      await drain(res.body);
      release();
      return { ...out, body: emptyBody() };
    }
    // The slot is held until the body ends, fails or is destroyed by the caller; 'close'
    // follows all three (autoDestroy), the others are belt and braces. The 'error' listener
    // also keeps a body error nobody listens for from crashing the process.
    const body = res.body;
    if (body.destroyed || body.readableEnded) release();
    else {
      body.once('end', release);
      body.once('error', release);
      body.once('close', release);
      if (wholeBodyMs > 0) {
        // bodyTimeout bounds each pause only: a small body trickled a byte per pause would
        // hold its slot for ever, so it must also end within wholeBodyMs of its head.
        const timer = setTimeout(() => body.destroy(bodyDeadlineError()), wholeBodyMs);
        timer.unref();
        body.once('close', () => clearTimeout(timer));
      }
    }
    return { ...out, body };
  }

  function upstreamError(reason: string): OciError {
    const detail: UpstreamErrorDetail = { upstream: config.name, reason };
    return new OciError('UPSTREAM_UNAVAILABLE', { detail });
  }

  return {
    config,
    rateLimit,
    manifest(method, repo, reference, opts = {}) {
      return send(method === 'GET' ? 'manifest_get' : 'manifest_head', method, repo, `/v2/${encodePath(repo)}/manifests/${encodeSegment(reference)}`, {
        accept: MANIFEST_ACCEPT,
      }, config.timeoutMs, opts.background);
    },
    blob(method, repo, digest, opts = {}) {
      const headers: Record<string, string> = {};
      if (opts.range !== undefined) headers['range'] = opts.range;
      const res = send(method === 'GET' ? 'blob_get' : 'blob_head', method, repo, `/v2/${encodePath(repo)}/blobs/${encodeSegment(digest)}`, headers, 0, opts.background);
      return method === 'GET' ? res.then((r) => ({ ...r, limits })) : res;
    },
    tags(repo, query) {
      const params = new URLSearchParams();
      if (query.n !== undefined) params.set('n', String(query.n));
      if (query.last !== undefined) params.set('last', query.last);
      const qs = params.toString();
      return send('tags', 'GET', repo, `/v2/${encodePath(repo)}/tags/list${qs ? `?${qs}` : ''}`, {
        accept: 'application/json',
      }, config.timeoutMs);
    },
    health: () => upstreamHealth(config.name, rateLimit, endpoints),
    async close() {
      if (closed) return;
      closed = true;
      if (!ownsDispatcher) return;
      // Let transfers in flight finish for a while, then cut them: shutdown must not hang
      // on a body nobody reads.
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), config.timeoutMs);
      });
      const outcome = await Promise.race([dispatcher.close().then(() => 'closed' as const), grace]);
      clearTimeout(timer);
      if (outcome === 'timeout') await dispatcher.destroy();
    },
  };
}

function flattenHeaders(h: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(h)) out[name.toLowerCase()] = firstValue(value);
  return out;
}

function emptyBody(): Readable {
  return new Readable({
    read() {
      this.push(null);
    },
  });
}

/** Repository names contain "/" between components; each component is encoded on its own. */
function encodePath(repo: string): string {
  return repo.split('/').map(encodeSegment).join('/');
}

/** Encodes one path segment but keeps ":" readable (digests), which is legal in a path. */
function encodeSegment(s: string): string {
  return encodeURIComponent(s).replace(/%3A/gi, ':');
}
