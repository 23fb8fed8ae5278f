import { Counter, Gauge, Registry } from 'prom-client';
import type { UpstreamHealth } from '../upstream/health.js';
import type { CacheContents, IndexStats } from '../storage/index-rows.js';
import type { Durations } from './durations.js';
import { registerProcessMetrics } from './process-metrics.js';
import { exportDurations } from './prometheus-durations.js';
import type { Metrics } from './metrics.js';
import { registerUpstreamGauges } from './upstream-health.js';

/**
 * /metrics on prom-client. Nothing here is touched on a request's hot path: every family
 * reads the plain counters (`Metrics`, `Durations`), the index and the upstreams' health
 * in its collect() callback when Prometheus scrapes. One Registry per app (tests run many
 * apps in one process); the process metrics (memory, CPU, event-loop lag, GC) read
 * process-wide watchers (process-metrics.ts).
 */

export interface PrometheusDeps {
  metrics: Metrics;
  durations: Durations;
  /** Counts and bytes of what the index holds, read once per scrape. */
  index: { stats(): Promise<IndexStats>; cacheContents(top: number): Promise<CacheContents> };
  fillsInProgress(): number;
  uploadsInProgress(): number;
  upstreamHealth(): readonly UpstreamHealth[];
  /** nodejs_gc_duration_seconds too (config metrics.gc; costs ~10 MiB peak RSS under load). */
  gc?: boolean;
  /** The data dir's free bytes when known (the readiness check's, cached there). */
  freeBytes?: () => Promise<number | undefined>;
  now: () => number;
  /** Issue 13: the cluster's peer-stream families too (only when cluster.* is on). */
  cluster?: boolean;
}

export interface Prometheus {
  readonly registry: Registry;
  /** The Content-Type of what metrics() returns. */
  readonly contentType: string;
  /** The text exposition of every family, read now. */
  metrics(): Promise<string>;
}

type Sample<L extends string> = [Partial<Record<L, string>> | undefined, number];

export function createPrometheus(deps: PrometheusDeps): Prometheus {
  const own = new Registry();
  const { metrics: m } = deps;
  // What the index said, for this scrape (set just before registry.metrics(), whose
  // collect() callbacks all run synchronously at its start).
  let scrape: { stats: IndexStats; contents: CacheContents; free: number | undefined } | undefined;

  const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[], samples: () => Array<Sample<L>>) =>
    new Counter<L>({
      name, help, labelNames, registers: [own],
      collect() {
        this.reset();
        for (const [labels, v] of samples()) {
          if (labels) this.inc(labels, v);
          else this.inc(v);
        }
      },
    });
  const gauge = <L extends string = never>(name: string, help: string, labelNames: readonly L[], samples: () => Array<Sample<L>>) =>
    new Gauge<L>({
      name, help, labelNames, registers: [own],
      collect() {
        this.reset();
        const all = samples();
        // reset() leaves an unlabelled gauge at 0; an unknown value has no sample instead.
        if (all.length === 0 && labelNames.length === 0) this.remove();
        for (const [labels, v] of all) {
          if (labels) this.set(labels, v);
          else this.set(v);
        }
      },
    });
  const one = <L extends string = never>(v: number): Array<Sample<L>> => [[undefined, v]];

  counter('mirror_cache_requests_total', 'Manifest and blob requests by cache result.', ['kind', 'result'], () =>
    (['manifest', 'blob'] as const).flatMap((kind) =>
      Object.entries(m.cache[kind]).map(([status, v]): Sample<'kind' | 'result'> => [{ kind, result: status.toLowerCase() }, v])));
  // Per upstream when the core built them (labelled upstream="<name>"), else the totals.
  const ups = () => Object.entries(m.byUpstream);
  counter('mirror_upstream_requests_total', 'Requests sent to upstream registries.', ['upstream', 'kind'], () => ups().length === 0
    ? Object.entries(m.upstreamRequests).map(([kind, v]): Sample<'upstream' | 'kind'> => [{ kind }, v])
    : ups().flatMap(([upstream, u]) => Object.entries(u.requests).map(([kind, v]): Sample<'upstream' | 'kind'> => [{ upstream, kind }, v])));
  counter('mirror_upstream_errors_total', 'Upstream requests that failed or timed out.', ['upstream'], () =>
    ups().length === 0 ? one(m.upstreamErrors) : ups().map(([upstream, u]): Sample<'upstream'> => [{ upstream }, u.errors]));
  counter('mirror_blob_fills_total', 'Blob cache fills by outcome.', ['outcome'], () =>
    [[{ outcome: 'completed' }, m.fillsCompleted], [{ outcome: 'failed' }, m.fillsFailed]]);
  counter('mirror_prefetches_total', 'Blob fills started by eager prefetch.', [], () => one(m.prefetchesStarted));
  counter('mirror_prefetch_hits_total', 'Prefetched blobs a client then asked for.', [], () => one(m.prefetchHits));
  counter('mirror_prefetch_manifests_total', 'Platform manifests of an index fetched by eager prefetch.', [], () => one(m.prefetchManifests));
  counter('mirror_prefetches_skipped_total', 'Prefetches not started: the upstream rate-limit budget was low.', [], () => one(m.prefetchSkipped));
  counter('mirror_upstream_bytes_total', 'Blob bytes received from upstreams.', ['upstream'], () =>
    ups().length === 0 ? one(m.bytesFromUpstream) : ups().map(([upstream, u]): Sample<'upstream'> => [{ upstream }, u.bytes]));
  counter('mirror_served_bytes_total', 'Blob bytes sent to clients.', [], () => one(m.bytesServed));
  counter('mirror_retention_runs_total', 'Background retention runs.', [], () => one(m.retention.runs));
  counter('mirror_retention_evicted_blobs_total', 'Mirrored blobs evicted by background retention.', [], () => one(m.retention.blobsEvicted));
  counter('mirror_retention_evicted_bytes_total', 'Bytes evicted by background retention.', [], () => one(m.retention.bytesEvicted));
  // No sample before the first run: a 0 timestamp would read as "ran in 1970".
  const lastRun = () => m.retention.lastRun;
  gauge('mirror_retention_last_run_timestamp_seconds', 'When the last background retention run ended (Unix time).', [], () => {
    const r = lastRun();
    return r ? one(Date.parse(r.at) / 1000) : [];
  });
  gauge('mirror_retention_last_run_duration_seconds', 'How long the last background retention run took.', [], () => {
    const r = lastRun();
    return r ? one(r.durationMs / 1000) : [];
  });

  const fromIndex = (pick: (s: NonNullable<typeof scrape>) => number | undefined) => (): Array<Sample<never>> => {
    const v = scrape && pick(scrape);
    return v === undefined ? [] : one(v);
  };
  gauge('mirror_blobs', 'Blobs in the index.', [], fromIndex((s) => s.stats.blobs));
  gauge('mirror_blob_bytes', 'Bytes of the blobs in the index.', [], fromIndex((s) => s.stats.blobBytes));
  gauge('mirror_manifests', 'Manifests in the index.', [], fromIndex((s) => s.stats.manifests));
  gauge('mirror_tags', 'Tags in the index.', [], fromIndex((s) => s.stats.tags));
  gauge('mirror_blob_fills_in_progress', 'Blob fills from upstreams in flight.', [], () => one(deps.fillsInProgress()));
  gauge('mirror_uploads_in_progress', 'Open upload sessions of pushes.', [], () => one(deps.uploadsInProgress()));
  gauge('mirror_disk_bytes', 'Blob bytes on disk by origin: mirrored (fetched from an upstream) or pushed.', ['origin'], () => scrape
    ? [[{ origin: 'mirrored' }, scrape.contents.bytesByOrigin.mirrored], [{ origin: 'pushed' }, scrape.contents.bytesByOrigin.pushed]]
    : []);
  gauge('mirror_disk_free_bytes', 'Free bytes of the data dir\'s file system, for this process (as /readyz checks it).', [], fromIndex((s) => s.free));
  registerUpstreamGauges(own, deps.upstreamHealth, deps.now);
  if (deps.cluster) {
    counter('mirror_cluster_peer_streams_total', 'Blob pulls streamed between replicas: taken from the replica filling the blob (received) or sent to another replica (sent).', ['direction'], () =>
      [[{ direction: 'received' }, m.cluster.peerStreams], [{ direction: 'sent' }, m.cluster.peerStreamsServed]]);
    counter('mirror_cluster_duplicate_fills_total', 'Blobs fetched from the upstream although another replica held the fill claim (it could not be streamed in time).', [], () =>
      one(m.cluster.duplicateFills));
  }

  exportDurations(own, 'mirror_http_request_duration_seconds', 'Time from a request\'s arrival to the end of its response, by route template, method and status.',
    deps.durations.requests);
  exportDurations(own, 'mirror_upstream_request_duration_seconds', 'Time from sending an upstream request to its response headers, by upstream and kind.',
    deps.durations.upstream);

  registerProcessMetrics(own, { gc: deps.gc === true });
  return {
    registry: own,
    contentType: own.contentType,
    async metrics() {
      const [stats, contents, free] = await Promise.all([
        deps.index.stats(),
        // No top lists: LIMIT 0 ends those queries before they scan.
        deps.index.cacheContents(0),
        deps.freeBytes?.().catch(() => undefined),
      ]);
      scrape = { stats, contents, free };
      return own.metrics();
    },
  };
}
