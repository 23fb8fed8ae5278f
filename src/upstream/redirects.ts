import { isIP } from 'node:net';
import type { Dispatcher } from 'undici';
import { request } from './undici-lean.js';
import { OciError } from '../oci/errors.js';
import { addressRefused, normaliseHost, type AddressPolicy } from './address-policy.js';
import type { UpstreamErrorDetail } from './errors.js';

/**
 * Redirect following for upstream requests. Docker Hub answers blob GETs with 307 to a CDN
 * whose signed URL carries its own authorization: forwarding our registry token there
 * would leak it, and some CDNs (S3) reject a request with two auth mechanisms. So
 * Authorization only ever goes to the registry's own origin.
 *
 * A redirect is also the upstream choosing what we dial next (SSRF): only http(s), never
 * from https down to http, and never to a non-public address unless the host is the
 * upstream's own or listed by the operator (address-policy.ts). Literal IPs are refused
 * here before any dial; names are checked on their resolved address by the connector.
 */

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export interface FollowOptions {
  readonly dispatcher: Dispatcher;
  /** The registry's origin: the only one that gets `authorization`. */
  readonly trustedOrigin: string;
  /** Authorization header value for the trusted origin, if any. */
  readonly authorization?: string;
  /** Most redirects followed; one more is an error. */
  readonly maxRedirects: number;
  /** Upstream name, for error details. */
  readonly upstream: string;
  /** Which redirect targets may be dialled. */
  readonly policy: AddressPolicy;
}

/**
 * Sends `method url` and follows redirects (relative Locations resolved against the URL
 * that sent them; the method is kept, as we only send GET and HEAD). Returns the final
 * response and its URL. Throws UPSTREAM_UNAVAILABLE past `maxRedirects` or for a refused
 * target (nothing is sent to it); network errors are thrown as they are (the caller
 * translates them).
 */
export async function followRedirects(
  method: 'HEAD' | 'GET',
  url: string,
  headers: Record<string, string>,
  options: FollowOptions,
): Promise<{ res: Dispatcher.ResponseData; url: string }> {
  let current = url;
  for (let hop = 0; ; hop++) {
    const h: Record<string, string> = { ...headers };
    if (options.authorization !== undefined && new URL(current).origin === options.trustedOrigin) {
      h['authorization'] = options.authorization;
    }
    const res = await request(current, { method, headers: h, dispatcher: options.dispatcher });
    const location = firstValue(res.headers['location']);
    if (!REDIRECT_STATUSES.has(res.statusCode) || location === undefined) return { res, url: current };
    await drain(res.body);
    if (hop >= options.maxRedirects) {
      const detail: UpstreamErrorDetail = {
        upstream: options.upstream,
        reason: `more than ${options.maxRedirects} redirects`,
        status: res.statusCode,
      };
      throw new OciError('UPSTREAM_UNAVAILABLE', { detail });
    }
    const next = new URL(location, current);
    checkRedirect(new URL(current), next, options);
    current = next.href;
  }
}

/** Throws UPSTREAM_UNAVAILABLE (reason "redirect refused") unless `to` may be followed from `from`. */
function checkRedirect(from: URL, to: URL, options: FollowOptions): void {
  let why: string | undefined;
  if (to.protocol !== 'http:' && to.protocol !== 'https:') why = `redirect to a ${to.protocol} URL`;
  else if (from.protocol === 'https:' && to.protocol === 'http:') why = 'redirect from https to http';
  else if (isIP(normaliseHost(to.hostname)) !== 0 && !options.policy.allows(to.hostname, to.hostname)) {
    why = addressRefused(to.hostname).message;
  }
  if (why === undefined) return;
  const detail: UpstreamErrorDetail = { upstream: options.upstream, reason: 'redirect refused' };
  // The target goes to the log (cause), never to the client.
  throw new OciError('UPSTREAM_UNAVAILABLE', { detail, cause: new Error(`${why}: ${to.origin}`) });
}

/** The first value of a possibly repeated header. */
export function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Reads and discards a body we do not need, so its connection can be reused; never throws. */
export async function drain(body: Dispatcher.ResponseData['body']): Promise<void> {
  try {
    await body.dump();
  } catch {
    // A broken body of a response we are discarding changes nothing.
  }
}
