import type { UpstreamHealth } from '../upstream/health.js';

/**
 * Prometheus gauges of each upstream's health (issue 10): what is left of its rate limit,
 * whether it is rate-limited (a 429's Retry-After), and which endpoints are skipped by
 * their circuit breaker. An unknown budget has no sample rather than a made-up number.
 */
export function renderUpstreamGauges(upstreams: readonly UpstreamHealth[], now: number): string {
  const lines: string[] = [];
  const gauge = (name: string, help: string, samples: Array<[string, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`);
  };
  const label = (u: UpstreamHealth) => `upstream="${escapeLabel(u.name)}"`;
  gauge('mirror_upstream_ratelimit_remaining', 'Pulls left of the upstream rate limit, as it last announced (ratelimit-remaining).',
    upstreams.filter((u) => u.rateLimitRemaining !== undefined).map((u) => [`{${label(u)}}`, u.rateLimitRemaining!]));
  gauge('mirror_upstream_ratelimit_limit', 'The upstream rate limit per window (ratelimit-limit).',
    upstreams.filter((u) => u.rateLimitLimit !== undefined).map((u) => [`{${label(u)}}`, u.rateLimitLimit!]));
  gauge('mirror_upstream_rate_limited_seconds', 'Seconds until the upstream may be asked again after a 429 with Retry-After (0: now).',
    upstreams.map((u) => [`{${label(u)}}`, u.rateLimitedUntil ? Math.max(0, Math.ceil((Date.parse(u.rateLimitedUntil) - now) / 1000)) : 0]));
  gauge('mirror_upstream_endpoint_open', 'Endpoints skipped by their circuit breaker (1: open or half-open), by position in urls.',
    upstreams.flatMap((u) => u.endpoints.map((e, i): [string, number] => [`{${label(u)},endpoint="${i}"}`, e.state === 'closed' ? 0 : 1])));
  return lines.join('\n') + '\n';
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
