import { OciError } from '../oci/errors.js';

/**
 * What an upstream says is left of its pull rate limit, from the headers Docker Hub sends
 * on manifest requests (https://docs.docker.com/docker-hub/usage/pulls/):
 *   ratelimit-limit: 100;w=21600
 *   ratelimit-remaining: 76;w=21600
 * A 429 means nothing is left, whatever it says. The last answer wins; it is forgotten
 * once its window (`w`, seconds) has passed, since the count is per window. Registries
 * that send neither header have an unknown budget, which is never "low".
 * Read by eager prefetch (proxy/prefetch.ts), which must not spend a client's pulls, and
 * by tag revalidation (proxy/manifests.ts), which serves stale while the budget is low.
 *
 * A 429 with Retry-After (seconds or an HTTP date, capped at MAX_RETRY_AFTER_MS) makes the
 * upstream "rate-limited until" then: the client sends nothing to it before that time
 * (retrying early only spends more of the budget, and some registries extend the ban).
 */
export class RateLimitBudget {
  private remainingCount: number | undefined;
  private limitCount: number | undefined;
  private expiresAt = 0;
  private blockedUntil = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Notes an upstream answer; cheap when it carries no rate-limit header. */
  observe(status: number, headers: Record<string, string | undefined>): void {
    const remaining = headers['ratelimit-remaining'];
    if (remaining === undefined && status !== 429) return;
    if (status === 429) this.noteRetryAfter(headers['retry-after']);
    const parsed = parseQuota(remaining);
    const limit = parseQuota(headers['ratelimit-limit']);
    if (limit) this.limitCount = limit.count;
    this.remainingCount = status === 429 ? 0 : parsed?.count;
    if (this.remainingCount === undefined) return;
    const windowS = parsed?.windowS ?? limit?.windowS ?? DEFAULT_WINDOW_S;
    this.expiresAt = this.now() + windowS * 1000;
  }

  /** Requests left in the current window, or undefined when unknown (or the window passed). */
  get remaining(): number | undefined {
    if (this.remainingCount === undefined || this.now() >= this.expiresAt) return undefined;
    return this.remainingCount;
  }

  /** The window's limit, when the upstream said. */
  get limit(): number | undefined {
    return this.limitCount;
  }

  /** Epoch ms before which nothing may be sent (a 429's Retry-After); 0 when not limited. */
  get limitedUntil(): number {
    if (this.blockedUntil !== 0 && this.now() >= this.blockedUntil) this.blockedUntil = 0;
    return this.blockedUntil;
  }

  /** Whole seconds left of a Retry-After (at least 1), or 0 when requests may go now. */
  retryAfterSeconds(): number {
    const until = this.limitedUntil;
    return until === 0 ? 0 : Math.max(1, Math.ceil((until - this.now()) / 1000));
  }

  private noteRetryAfter(value: string | undefined): void {
    const ms = parseRetryAfter(value, this.now());
    if (ms === undefined || ms <= 0) return;
    this.blockedUntil = Math.max(this.blockedUntil, this.now() + Math.min(ms, MAX_RETRY_AFTER_MS));
  }

  /** True when fewer than `min` requests are known to be left (min 0: never). */
  isLow(min: number): boolean {
    if (min <= 0) return false;
    const left = this.remaining;
    return left !== undefined && left < min;
  }
}

/** The 429 a request gets, unsent, while the upstream is rate-limited (Retry-After: what is left of it). */
export function rateLimitedError(upstream: string, budget: RateLimitBudget): OciError {
  return new OciError('TOOMANYREQUESTS', {
    message: 'upstream registry rate limit reached',
    detail: { upstream, reason: 'rate limited' },
    headers: { 'Retry-After': String(budget.retryAfterSeconds()) },
  });
}

/** Below this many requests left, cached tags past their TTL are served stale, not revalidated. */
export const DEFAULT_REVALIDATE_MIN_BUDGET = 5;

/** Docker Hub's window: 6 hours. */
const DEFAULT_WINDOW_S = 21600;

/** The longest Retry-After honoured: a hostile or confused upstream must not lock us out for days. */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/** Retry-After as milliseconds from `now`: delta-seconds or an HTTP date (RFC 9110 10.2.3). */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d{1,10}$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : at - now;
}

/** `N` or `N;w=S` (RFC draft ratelimit headers); undefined when not a count. */
function parseQuota(value: string | undefined): { count: number; windowS: number | undefined } | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d{1,15})\s*(?:;\s*w\s*=\s*(\d{1,9}))?/.exec(value);
  if (!m) return undefined;
  return { count: Number(m[1]), windowS: m[2] === undefined ? undefined : Number(m[2]) };
}
