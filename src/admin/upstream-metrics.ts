import type { Metrics } from './metrics.js';

/** An upstream failure the console lists: an error counted (a stale answer, a failed tags list) or a fill that failed. */
export type UpstreamFailure = 'UPSTREAM_ERROR' | 'FILL_FAILED';

/** What one upstream was asked and sent (issue 10: stats and metrics carry the upstream's name). */
export interface UpstreamCounters {
  requests: Metrics['upstreamRequests'];
  errors: number;
  bytes: number;
}

/**
 * The Metrics an upstream's proxies count into: the same object shape, so the proxies stay
 * unaware of upstreams, but every upstream request, error and byte is counted twice, in
 * the totals and in `metrics.byUpstream[name]`. Other counters pass straight through.
 * Accessors, not a Proxy: the cost is a getter/setter pair per increment on fill paths
 * only (cached sends count bytesServed on the core's own Metrics, not through a view).
 * `onFailure` (issue 12, the console's recent errors) hears of each upstream error counted
 * and each failed fill, including those a client never saw (a stale answer, a prefetch).
 */
export function upstreamMetricsView(metrics: Metrics, name: string, onFailure?: (what: UpstreamFailure) => void): Metrics {
  const own: UpstreamCounters = {
    requests: { manifest_get: 0, manifest_head: 0, blob_get: 0, blob_head: 0, tags: 0 },
    errors: 0,
    bytes: 0,
  };
  metrics.byUpstream[name] = own;
  const requests = {} as Metrics['upstreamRequests'];
  for (const k of Object.keys(metrics.upstreamRequests) as Array<keyof Metrics['upstreamRequests']>) {
    Object.defineProperty(requests, k, {
      enumerable: true,
      get: () => metrics.upstreamRequests[k],
      set: (v: number) => {
        own.requests[k] += v - metrics.upstreamRequests[k];
        metrics.upstreamRequests[k] = v;
      },
    });
  }
  const view = { upstreamRequests: requests } as Metrics;
  const teed: Record<string, 'errors' | 'bytes'> = { upstreamErrors: 'errors', bytesFromUpstream: 'bytes' };
  for (const key of Object.keys(metrics) as Array<keyof Metrics>) {
    if (key === 'upstreamRequests') continue;
    const mine = teed[key];
    Object.defineProperty(view, key, {
      enumerable: true,
      get: () => metrics[key],
      set: mine === undefined
        ? (v: never) => {
          if (key === 'fillsFailed' && onFailure && (v as number) > metrics.fillsFailed) onFailure('FILL_FAILED');
          (metrics as unknown as Record<string, unknown>)[key] = v;
        }
        : (v: number) => {
          if (mine === 'errors' && onFailure && v > (metrics[key] as number)) onFailure('UPSTREAM_ERROR');
          own[mine] += v - (metrics[key] as number);
          (metrics as unknown as Record<string, number>)[key] = v;
        },
    });
  }
  return view;
}
