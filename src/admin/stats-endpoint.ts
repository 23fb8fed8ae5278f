import type { Namespace } from '../routing/namespace.js';
import type { MaintenanceIndex } from '../storage/ports.js';
import type { Metrics } from './metrics.js';
import { cacheReport, figuresOf, type CacheFigures, type CacheReport } from './stats.js';
import { counterValues, type StatsRecorder } from './stats-recorder.js';

/** What GET /admin/stats reads: the index, the live counters and the namespace's live figures. */
export interface AdminStatsDeps {
  maintenance: MaintenanceIndex;
  metrics: Metrics;
  namespace: Pick<Namespace, 'fillsInProgress' | 'uploadsInProgress' | 'prefetchStats' | 'upstreamStats'>;
  /** Flushed first, so the persisted figures include this process's latest counts. */
  stats: Pick<StatsRecorder, 'flush'>;
  now: () => number;
}

/**
 * The body of GET /admin/stats: the raw counters and per-upstream sections of issues 7–10
 * (unchanged), and `cache` (issue 11): the persisted report `registry-mirror stats` prints
 * too, plus `process`, the same figures over this process's lifetime.
 */
export async function adminStats(d: AdminStatsDeps): Promise<Record<string, unknown> & { cache: CacheReport & { process: CacheFigures } }> {
  await d.stats.flush();
  const [index, upstreams, report] = await Promise.all([
    d.maintenance.stats(), d.namespace.upstreamStats(), cacheReport(d.maintenance, d.now()),
  ]);
  return {
    index, fillsInProgress: d.namespace.fillsInProgress(), uploadsInProgress: d.namespace.uploadsInProgress(), ...d.metrics,
    prefetch: d.namespace.prefetchStats(),
    // Issue 10: per upstream name (requests, errors, bytes, prefetch, index, rate limit and
    // endpoint breakers); replaces the raw byUpstream of the spread.
    byUpstream: undefined, upstreams,
    cache: { ...report, process: figuresOf(counterValues(d.metrics)) },
  };
}
