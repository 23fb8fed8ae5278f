import type { EndpointHealth, Endpoints } from './endpoints.js';
import type { RateLimitBudget } from './rate-limit-budget.js';

/** An upstream's health for /admin/stats and /metrics (admin/upstream-health.ts). */
export interface UpstreamHealth {
  name: string;
  /** Requests left of the rate limit, as last announced (undefined: unknown). */
  rateLimitRemaining: number | undefined;
  rateLimitLimit: number | undefined;
  /** ISO time before which nothing is sent (a 429's Retry-After), when rate-limited. */
  rateLimitedUntil?: string;
  /** Breaker state per endpoint, by position in `urls`. */
  endpoints: EndpointHealth[];
}

/** A snapshot of one upstream's rate limit and endpoint breakers. */
export function upstreamHealth(name: string, rateLimit: RateLimitBudget, endpoints: Endpoints): UpstreamHealth {
  const until = rateLimit.limitedUntil;
  return {
    name,
    rateLimitRemaining: rateLimit.remaining,
    rateLimitLimit: rateLimit.limit,
    ...(until !== 0 ? { rateLimitedUntil: new Date(until).toISOString() } : {}),
    endpoints: endpoints.health(),
  };
}
