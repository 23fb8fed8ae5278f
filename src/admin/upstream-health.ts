import { Gauge, type Registry } from 'prom-client';
import type { UpstreamHealth } from '../upstream/health.js';

/**
 * Prometheus gauges of each upstream's health (issue 10): what is left of its rate limit,
 * whether it is rate-limited (a 429's Retry-After), and which endpoints are skipped by
 * their circuit breaker. An unknown budget has no sample rather than a made-up number.
 * Read at scrape time from `health()` (the namespace's upstreamHealth).
 */
export function registerUpstreamGauges(registry: Registry, health: () => readonly UpstreamHealth[], now: () => number): void {
  // One snapshot per scrape: the first gauge collected takes it, the others reuse it
  // (registry.metrics() runs every collect() synchronously, one after the other).
  let snapshot: readonly UpstreamHealth[] = [];
  const gauge = <L extends string>(
    name: string, help: string, labelNames: readonly L[],
    samples: (ups: readonly UpstreamHealth[]) => Array<[Record<L, string>, number]>, first = false,
  ) => new Gauge<L>({
    name, help, labelNames, registers: [registry],
    collect() {
      if (first) snapshot = health();
      this.reset();
      for (const [labels, v] of samples(snapshot)) this.set(labels, v);
    },
  });
  const up = (u: UpstreamHealth) => ({ upstream: u.name });
  gauge('mirror_upstream_ratelimit_remaining', 'Pulls left of the upstream rate limit, as it last announced (ratelimit-remaining).', ['upstream'],
    (ups) => ups.filter((u) => u.rateLimitRemaining !== undefined).map((u) => [up(u), u.rateLimitRemaining!]), true);
  gauge('mirror_upstream_ratelimit_limit', 'The upstream rate limit per window (ratelimit-limit).', ['upstream'],
    (ups) => ups.filter((u) => u.rateLimitLimit !== undefined).map((u) => [up(u), u.rateLimitLimit!]));
  gauge('mirror_upstream_rate_limited_seconds', 'Seconds until the upstream may be asked again after a 429 with Retry-After (0: now).', ['upstream'],
    (ups) => ups.map((u) => [up(u), u.rateLimitedUntil ? Math.max(0, Math.ceil((Date.parse(u.rateLimitedUntil) - now()) / 1000)) : 0]));
  gauge('mirror_upstream_endpoint_open', 'Endpoints skipped by their circuit breaker (1: open or half-open), by position in urls.', ['upstream', 'endpoint'],
    (ups) => ups.flatMap((u) => u.endpoints.map((e, i): [Record<'upstream' | 'endpoint', string>, number] => [
      { upstream: u.name, endpoint: String(i) }, e.state === 'closed' ? 0 : 1,
    ])));
}
