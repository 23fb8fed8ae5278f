import type { EventBus } from '../events/event-bus.js';
import type { CacheStatus } from '../events/event-types.js';
import type { UpstreamCounters } from './upstream-metrics.js';

export type { CacheStatus };

/**
 * In-memory counters: cheap increments on the hot path, read by /admin/stats and, at
 * scrape time, by the prom-client families of /metrics (prometheus.ts). Cache results are counted from the event bus
 * (subscribeMetrics); upstream traffic, bytes and fill outcomes (one per fill, however
 * many repositories it is committed to) are about transfers rather than repository
 * events and are still counted where they happen.
 */

export interface Metrics {
  cache: Record<'manifest' | 'blob', Record<CacheStatus, number>>;
  /** Requests sent upstream, by kind. */
  upstreamRequests: Record<'manifest_get' | 'manifest_head' | 'blob_get' | 'blob_head' | 'tags', number>;
  upstreamErrors: number;
  /** Blob fills that failed verification or were cut (nothing cached). */
  fillsFailed: number;
  fillsCompleted: number;
  /** Blob fills started by eager prefetch (proxy/prefetch.ts), before any client asked. */
  prefetchesStarted: number;
  /** Prefetched blobs a client then asked for (GET), each counted once. */
  prefetchHits: number;
  /** Platform manifests of an index fetched by eager prefetch (their blobs count in prefetchesStarted). */
  prefetchManifests: number;
  /** Prefetches (blobs or platform manifests) not started because the upstream's rate-limit budget was low. */
  prefetchSkipped: number;
  bytesFromUpstream: number;
  bytesServed: number;
  /** The upstream counters again, per upstream name (issue 10; filled by upstream-metrics.ts). */
  byUpstream: Record<string, UpstreamCounters>;
  /** Background retention (admin/retention.ts): runs, what they evicted, and the last run. */
  retention: RetentionCounters;
  /** Issue 13: blobs streamed between replicas (proxy/cluster-fills.ts, http/internal-routes.ts); 0 with cluster off. */
  cluster: ClusterCounters;
}

export interface ClusterCounters {
  /** Client pulls served by streaming another replica's in-progress fill. */
  peerStreams: number;
  /** Streams of this replica's fills sent to other replicas. */
  peerStreamsServed: number;
  /** Fills fetched from the upstream although another replica held the claim (it could not be streamed in time). */
  duplicateFills: number;
}

export interface RetentionCounters {
  runs: number;
  blobsEvicted: number;
  bytesEvicted: number;
  /** Candidates kept because a client was streaming them. */
  skippedInUse: number;
  lastRun?: {
    at: string; reason: string; durationMs: number; evicted: number; bytesFreed: number;
    skippedInUse: number; remainingBytes: number; error?: string;
  };
}

const cacheCounters = (): Record<CacheStatus, number> => ({ HIT: 0, MISS: 0, STALE: 0, REVALIDATED: 0 });

export function createMetrics(): Metrics {
  return {
    cache: { manifest: cacheCounters(), blob: cacheCounters() },
    upstreamRequests: { manifest_get: 0, manifest_head: 0, blob_get: 0, blob_head: 0, tags: 0 },
    upstreamErrors: 0,
    fillsFailed: 0,
    fillsCompleted: 0,
    prefetchesStarted: 0,
    prefetchHits: 0,
    prefetchManifests: 0,
    prefetchSkipped: 0,
    bytesFromUpstream: 0,
    bytesServed: 0,
    byUpstream: {},
    retention: { runs: 0, blobsEvicted: 0, bytesEvicted: 0, skippedInUse: 0 },
    cluster: { peerStreams: 0, peerStreamsServed: 0, duplicateFills: 0 },
  };
}

/**
 * Counts what the events say: manifest and blob pulls (GET and HEAD) by cache result.
 * Nothing else in the code increments these counters.
 */
export function subscribeMetrics(events: EventBus, m: Metrics): void {
  events.on('manifest.pulled', (e) => { if (e.cache) m.cache.manifest[e.cache]++; });
  events.on(['blob.pulled', 'blob.checked'], (e) => { if (e.cache) m.cache.blob[e.cache]++; });
}
