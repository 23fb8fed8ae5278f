/**
 * What an upstream says is left of its pull rate limit, from the headers Docker Hub sends
 * on manifest requests (https://docs.docker.com/docker-hub/usage/pulls/):
 *   ratelimit-limit: 100;w=21600
 *   ratelimit-remaining: 76;w=21600
 * A 429 means nothing is left, whatever it says. The last answer wins; it is forgotten
 * once its window (`w`, seconds) has passed, since the count is per window. Registries
 * that send neither header have an unknown budget, which is never "low".
 * Read by eager prefetch (proxy/prefetch.ts), which must not spend a client's pulls.
 */
export class RateLimitBudget {
  private remainingCount: number | undefined;
  private limitCount: number | undefined;
  private expiresAt = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Notes an upstream answer; cheap when it carries no rate-limit header. */
  observe(status: number, headers: Record<string, string | undefined>): void {
    const remaining = headers['ratelimit-remaining'];
    if (remaining === undefined && status !== 429) return;
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

  /** True when fewer than `min` requests are known to be left (min 0: never). */
  isLow(min: number): boolean {
    if (min <= 0) return false;
    const left = this.remaining;
    return left !== undefined && left < min;
  }
}

/** Docker Hub's window: 6 hours. */
const DEFAULT_WINDOW_S = 21600;

/** `N` or `N;w=S` (RFC draft ratelimit headers); undefined when not a count. */
function parseQuota(value: string | undefined): { count: number; windowS: number | undefined } | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d{1,15})\s*(?:;\s*w\s*=\s*(\d{1,9}))?/.exec(value);
  if (!m) return undefined;
  return { count: Number(m[1]), windowS: m[2] === undefined ? undefined : Number(m[2]) };
}
