import type { Child } from 'hono/jsx';
import type { RecentError } from '../../../admin/recent-errors.js';
import type { UpstreamCounters } from '../../../admin/upstream-metrics.js';
import type { FillDetail } from '../../../routing/namespace.js';
import type { UpstreamHealth } from '../../../upstream/client.js';
import { Bytes, Digest, Time } from '../../components.js';
import { formatBytes, formatExact } from '../../format.js';

/** The fragment URLs htmx polls; each answers the same section the page renders. */
export const LIVE = {
  fills: '/ui/overview/fills',
  upstreams: '/ui/overview/upstreams',
  errors: '/ui/overview/errors',
} as const;

/** A section that replaces itself with a fresh copy every 2 s (htmx; without script it is as the page loaded it). */
function Live(p: { id: string; url: string; title: string; children: Child }) {
  return (
    <section id={p.id} aria-labelledby={`${p.id}-h`} hx-get={p.url} hx-trigger="every 2s" hx-swap="outerHTML">
      <h2 id={`${p.id}-h`}>{p.title}</h2>
      {p.children}
    </section>
  );
}

/** bytes/s since the fill started; undefined before any time has passed. */
function rate(f: FillDetail, now: number): number | undefined {
  const seconds = (now - f.startedAt) / 1000;
  return seconds > 0 ? Math.round(f.received / seconds) : undefined;
}

/** "Fills in progress": blob transfers from upstreams in flight (at most 50 listed; the count says how many in all). */
export function FillsSection(p: { fills: FillDetail[]; total: number; now: number }) {
  return (
    <Live id="fills" url={LIVE.fills} title="Fills in progress">
      {p.fills.length === 0 ? <p>No fills in progress.</p> : (
        <div class="table-wrap">
          <table>
            <caption>{p.total > p.fills.length ? `${p.fills.length} of ${p.total} fills` : `${p.total} ${p.total === 1 ? 'fill' : 'fills'}`}</caption>
            <thead><tr><th>Repository</th><th>Digest</th><th class="num">Received</th><th class="num">Speed</th><th>Started</th></tr></thead>
            <tbody>
              {p.fills.map((f) => {
                const r = rate(f, p.now);
                return (
                  <tr>
                    <td>{f.repository}{f.prefetch ? <small> (prefetch)</small> : null}</td>
                    <td><Digest digest={f.digest} /></td>
                    <td class="num" data-received={String(f.received)}>
                      <Bytes n={f.received} /> / {f.size === undefined ? 'unknown size' : <Bytes n={f.size} />}
                    </td>
                    <td class="num">{r === undefined ? '–' : `${formatBytes(r)}/s`}</td>
                    <td><Time at={f.startedAt} now={p.now} /></td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Live>
  );
}

const breakerText = (h: UpstreamHealth) =>
  h.endpoints.map((e) => `#${e.endpoint + 1} ${e.state}${e.openUntil ? ` until ${formatExact(Date.parse(e.openUntil))}` : ''}`).join(', ');

/** "Upstreams": per upstream, its endpoints' breakers, what is left of its rate limit, its requests and errors. */
export function UpstreamsSection(p: { health: UpstreamHealth[]; counters: Readonly<Record<string, UpstreamCounters>>; now: number }) {
  return (
    <Live id="upstreams" url={LIVE.upstreams} title="Upstreams">
      <div class="table-wrap">
        <table>
          <thead>
            <tr><th>Upstream</th><th>Endpoints</th><th class="num">Rate limit left</th><th>Rate-limited until</th><th class="num">Requests</th><th class="num">Errors</th></tr>
          </thead>
          <tbody>
            {p.health.map((h) => {
              const c = p.counters[h.name];
              const requests = c ? Object.values(c.requests).reduce((a, b) => a + b, 0) : 0;
              const until = h.rateLimitedUntil === undefined ? undefined : Date.parse(h.rateLimitedUntil);
              return (
                <tr>
                  <td>{h.name}</td>
                  <td class={h.endpoints.some((e) => e.state !== 'closed') ? 'warn' : undefined}>{breakerText(h)}</td>
                  <td class="num">{h.rateLimitRemaining === undefined ? 'unknown' : `${h.rateLimitRemaining}${h.rateLimitLimit === undefined ? '' : ` / ${h.rateLimitLimit}`}`}</td>
                  <td>{until === undefined || until <= p.now ? '–' : <Time at={until} now={p.now} />}</td>
                  <td class="num">{requests.toLocaleString('en-US')}</td>
                  <td class="num">{(c?.errors ?? 0).toLocaleString('en-US')}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </Live>
  );
}

/**
 * "Recent errors": the last responses with status ≥ 500 or 429, by route label (never a path,
 * name or address), and upstream failures no response showed (a stale answer, a failed fill).
 */
export function ErrorsSection(p: { errors: RecentError[]; now: number }) {
  return (
    <Live id="errors" url={LIVE.errors} title="Recent errors">
      {p.errors.length === 0 ? <p>No errors since the mirror started.</p> : (
        <div class="table-wrap">
          <table>
            <thead><tr><th>Time</th><th>Method</th><th>Route</th><th class="num">Status</th><th>Code</th></tr></thead>
            <tbody>
              {p.errors.map((e) => (
                <tr>
                  <td><Time at={e.at} now={p.now} /></td>
                  <td>{e.method === '-' ? '–' : e.method}</td>
                  <td>{e.upstream === undefined ? e.route : `${e.route} ${e.upstream}`}</td>
                  <td class="num">{e.status === 0 ? '–' : e.status}</td>
                  <td>{e.code ?? '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Live>
  );
}
