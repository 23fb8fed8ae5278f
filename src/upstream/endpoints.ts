import type { Dispatcher } from 'undici';
import type { UpstreamConfig } from '../config/schema.js';
import { OciError, isOciError } from '../oci/errors.js';
import { Breaker, DEFAULT_BREAKER, type BreakerState } from './breaker.js';
import { drain } from './redirects.js';

/**
 * The endpoints of one upstream (issue 10): `urls` tried in order, e.g. a nearer mirror
 * first and the registry itself after it — any endpoint is safe, every byte is verified
 * by digest. Each has its own circuit breaker (breaker.ts) and its own auth state (kept by
 * the client: a mirror and the registry may challenge with different realms). Failover happens only
 * before a response is handed on, so no byte from a failed endpoint ever reaches a client.
 */

export interface Endpoint {
  /** Base URL without trailing slash. */
  readonly base: string;
  /** Its origin: the only one that gets our Authorization header. */
  readonly origin: string;
  readonly breaker: Breaker;
}

/**
 * An endpoint's health, for /admin/stats. By position in `urls`, never by URL: stats must
 * not carry an internal address (IP:port), as no response does.
 */
export interface EndpointHealth {
  /** Position in the upstream's `urls` (0: the first tried). */
  endpoint: number;
  state: BreakerState;
  /** ISO time until which it is skipped, when open. */
  openUntil?: string;
}

/** The endpoint URLs of an upstream: `urls`, or its single `url`. */
export function endpointUrls(config: UpstreamConfig): readonly string[] {
  return config.urls && config.urls.length > 0 ? config.urls : [config.url];
}

/** One endpoint list per upstream client. */
export class Endpoints {
  readonly list: readonly Endpoint[];

  constructor(private readonly config: UpstreamConfig, private readonly now: () => number = Date.now) {
    const settings = config.breaker ?? DEFAULT_BREAKER;
    this.list = endpointUrls(config).map((url) => {
      const base = url.replace(/\/+$/, '');
      return { base, origin: new URL(base).origin, breaker: new Breaker(settings, now) };
    });
  }

  /**
   * Sends one request to the first endpoint whose breaker admits it, and on a connection
   * error, timeout or 5xx to the next one. A 5xx from the last endpoint tried is handed on
   * as an answer; with every endpoint skipped (breakers open) it fails at once with a 503
   * UPSTREAM_UNAVAILABLE, without any connection attempt, so the caller can serve stale.
   */
  async send(attempt: (ep: Endpoint) => Promise<Dispatcher.ResponseData>): Promise<{ res: Dispatcher.ResponseData; endpoint: Endpoint }> {
    let lastError: unknown;
    const { list } = this;
    for (let i = 0; i < list.length; i++) {
      const ep = list[i]!;
      if (ep.breaker.admit() === 'skip') continue;
      let res: Dispatcher.ResponseData;
      try {
        res = await attempt(ep);
      } catch (err) {
        if (!isEndpointFailure(err)) {
          // An answer we cannot use (a refused token, say) is still an answer.
          ep.breaker.success();
          throw err;
        }
        ep.breaker.failure();
        lastError = err;
        continue;
      }
      if (res.statusCode < 500) {
        ep.breaker.success();
        return { res, endpoint: ep };
      }
      ep.breaker.failure();
      if (i === list.length - 1) return { res, endpoint: ep };
      await drain(res.body);
      lastError = new OciError('UPSTREAM_UNAVAILABLE', {
        message: `upstream answered ${res.statusCode}`,
        detail: { upstream: this.config.name, reason: 'server error', status: res.statusCode },
      });
    }
    throw lastError ?? this.allOpen();
  }

  /** The fast answer while every endpoint is skipped; Retry-After: when the first may be probed. */
  private allOpen(): OciError {
    const next = Math.min(...this.list.map((ep) => ep.breaker.until));
    const seconds = Math.max(1, Math.ceil((next - this.now()) / 1000));
    return new OciError('UPSTREAM_UNAVAILABLE', {
      status: 503,
      message: 'upstream registry unavailable: every endpoint is failing, retried later',
      detail: { upstream: this.config.name, reason: 'circuit open' },
      headers: { 'Retry-After': String(seconds) },
    });
  }

  /** Breaker states, for stats. */
  health(): EndpointHealth[] {
    return this.list.map((ep, endpoint) => {
      const state = ep.breaker.state;
      return { endpoint, state, ...(state === 'open' ? { openUntil: new Date(ep.breaker.until).toISOString() } : {}) };
    });
  }
}

/** Network errors and upstream failures count against an endpoint; other OciErrors are answers. */
function isEndpointFailure(err: unknown): boolean {
  if (!isOciError(err)) return true;
  return err.code === 'UPSTREAM_UNAVAILABLE' || err.code === 'UPSTREAM_TIMEOUT';
}
