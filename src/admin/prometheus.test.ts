import { Histogram, Registry } from 'prom-client';
import { describe, expect, test } from 'vitest';
import { parseMetrics, sample, valueOf } from '../../test/helpers/prometheus-text.js';
import type { UpstreamHealth } from '../upstream/health.js';
import { createDurations, DURATION_BUCKETS, DurationSet } from './durations.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createPrometheus } from './prometheus.js';
import { exportDurations } from './prometheus-durations.js';
import { upstreamMetricsView } from './upstream-metrics.js';

const STATS = { blobs: 3, blobBytes: 3000, manifests: 2, tags: 1, repositories: 1 };
const CONTENTS = { bytesByOrigin: { mirrored: 2000, pushed: 1000 }, manifestBytes: 10, oldestAccess: null, topByBytes: [], topByPulls: [] };

function prometheusOf(metrics: Metrics, extra: { health?: UpstreamHealth[]; free?: number; durations?: ReturnType<typeof createDurations> } = {}) {
  return createPrometheus({
    metrics, durations: extra.durations ?? createDurations(), now: () => Date.parse('2026-01-01T00:00:00Z'),
    index: { stats: async () => STATS, cacheContents: async () => CONTENTS },
    fillsInProgress: () => 4, uploadsInProgress: () => 5,
    upstreamHealth: () => extra.health ?? [],
    freeBytes: async () => extra.free,
  });
}

describe('/metrics families (prometheus.ts)', () => {
  test('every family parses with HELP and TYPE; index counts, disk bytes by origin, free bytes and fills are gauges read at scrape time', async () => {
    const p = prometheusOf(createMetrics(), { free: 12345 });
    expect(p.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const f = parseMetrics(await p.metrics());
    expect(f.get('mirror_blobs')?.type).toBe('GAUGE');
    expect(valueOf(f, 'mirror_blob_bytes')).toBe(3000);
    expect(valueOf(f, 'mirror_disk_bytes', { origin: 'mirrored' })).toBe(2000);
    expect(valueOf(f, 'mirror_disk_bytes', { origin: 'pushed' })).toBe(1000);
    expect(valueOf(f, 'mirror_disk_free_bytes')).toBe(12345);
    expect(valueOf(f, 'mirror_blob_fills_in_progress')).toBe(4);
    expect(valueOf(f, 'mirror_uploads_in_progress')).toBe(5);
    // Process metrics come along (process-metrics.ts, under prom-client's default names).
    expect(f.get('process_resident_memory_bytes')?.type).toBe('GAUGE');
    expect(f.get('nodejs_eventloop_lag_seconds')?.type).toBe('GAUGE');
    expect(f.get('nodejs_heap_space_size_used_bytes')?.type).toBe('GAUGE');
  });

  test('counters read the Metrics object at scrape time, with their names and labels unchanged', async () => {
    const m = createMetrics();
    const p = prometheusOf(m);
    m.cache.manifest.HIT = 2;
    m.fillsFailed = 1;
    m.prefetchSkipped = 3;
    const f = parseMetrics(await p.metrics());
    expect(f.get('mirror_cache_requests_total')?.type).toBe('COUNTER');
    expect(valueOf(f, 'mirror_cache_requests_total', { kind: 'manifest', result: 'hit' })).toBe(2);
    expect(valueOf(f, 'mirror_blob_fills_total', { outcome: 'failed' })).toBe(1);
    expect(valueOf(f, 'mirror_prefetches_skipped_total')).toBe(3);
    m.cache.manifest.HIT = 5;
    expect(valueOf(parseMetrics(await p.metrics()), 'mirror_cache_requests_total', { kind: 'manifest', result: 'hit' })).toBe(5);
  });

  test('upstream counters: labelled upstream="<name>" with views; without views, the unlabelled totals as before', async () => {
    const m = createMetrics();
    const p = prometheusOf(m);
    expect(await p.metrics()).toContain('mirror_upstream_requests_total{kind="blob_get"} 0');
    upstreamMetricsView(m, 'ghcr.io').upstreamRequests.tags++;
    const text = await p.metrics();
    expect(text).toContain('mirror_upstream_requests_total{upstream="ghcr.io",kind="tags"} 1');
    expect(text).toContain('mirror_upstream_errors_total{upstream="ghcr.io"} 0');
    expect(text).toContain('mirror_upstream_bytes_total{upstream="ghcr.io"} 0');
    expect(text).not.toContain('mirror_upstream_requests_total{kind=');
  });

  test('retention: runs and evictions count; the last run\'s time and duration appear once there was one', async () => {
    const m = createMetrics();
    const p = prometheusOf(m);
    let f = parseMetrics(await p.metrics());
    expect(sample(f, 'mirror_retention_last_run_timestamp_seconds')).toBeUndefined();
    m.retention.runs = 2;
    m.retention.blobsEvicted = 7;
    m.retention.lastRun = { at: '2026-01-01T00:00:10.000Z', reason: 'max_size', durationMs: 1500, evicted: 7, bytesFreed: 70, skippedInUse: 0, remainingBytes: 1 };
    f = parseMetrics(await p.metrics());
    expect(valueOf(f, 'mirror_retention_runs_total')).toBe(2);
    expect(valueOf(f, 'mirror_retention_evicted_blobs_total')).toBe(7);
    expect(valueOf(f, 'mirror_retention_last_run_timestamp_seconds')).toBe(Date.parse('2026-01-01T00:00:10Z') / 1000);
    expect(valueOf(f, 'mirror_retention_last_run_duration_seconds')).toBe(1.5);
  });

  test('upstream health gauges: budget, rate-limited seconds and open endpoints per upstream', async () => {
    const health: UpstreamHealth[] = [{
      name: 'docker.io', rateLimitRemaining: 7, rateLimitLimit: 100, rateLimitedUntil: '2026-01-01T00:01:00Z',
      endpoints: [{ state: 'closed' }, { state: 'open' }] as UpstreamHealth['endpoints'],
    }];
    const text = await prometheusOf(createMetrics(), { health }).metrics();
    expect(text).toContain('mirror_upstream_ratelimit_remaining{upstream="docker.io"} 7');
    expect(text).toContain('mirror_upstream_ratelimit_limit{upstream="docker.io"} 100');
    expect(text).toContain('mirror_upstream_rate_limited_seconds{upstream="docker.io"} 60');
    expect(text).toContain('mirror_upstream_endpoint_open{upstream="docker.io",endpoint="0"} 0');
    expect(text).toContain('mirror_upstream_endpoint_open{upstream="docker.io",endpoint="1"} 1');
  });

  test('each app has its own registry: two apps count apart', async () => {
    const a = createDurations();
    const b = createDurations();
    a.upstreamTiming('docker.io')('blob_get', 0.2);
    const fa = parseMetrics(await prometheusOf(createMetrics(), { durations: a }).metrics());
    const fb = parseMetrics(await prometheusOf(createMetrics(), { durations: b }).metrics());
    expect(valueOf(fa, 'mirror_upstream_request_duration_seconds', { upstream: 'docker.io', kind: 'blob_get' })).toBe(1);
    expect(sample(fb, 'mirror_upstream_request_duration_seconds', { upstream: 'docker.io', kind: 'blob_get' })).toBeUndefined();
  });
});

describe('duration histograms', () => {
  test('the exported series equal what prom-client\'s own Histogram.observe() gives for the same values', async () => {
    const values = [0, 0.0001, 0.0005, 0.0007, 0.001, 0.003, 0.2, 0.25, 1, 7, 59.9, 60, 61, 1000];
    const ours = new Registry();
    const set = new DurationSet();
    const get = set.add({ route: 'manifests', method: 'GET', status: '200' });
    const put = set.add({ route: 'uploads', method: 'PUT', status: '201' });
    exportDurations(ours, 'h', 'help', set);
    const theirs = new Registry();
    const reference = new Histogram({ name: 'h', help: 'help', labelNames: ['route', 'method', 'status'], buckets: [...DURATION_BUCKETS], registers: [theirs] });
    for (const v of values) {
      get.observe(v);
      reference.observe({ route: 'manifests', method: 'GET', status: '200' }, v);
    }
    put.observe(0.02);
    reference.observe({ route: 'uploads', method: 'PUT', status: '201' }, 0.02);
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    // And again (a second scrape starts from the counters, not from the last export).
    get.observe(0.01);
    reference.observe({ route: 'manifests', method: 'GET', status: '200' }, 0.01);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(parseMetrics(text).get('h')?.type).toBe('HISTOGRAM');
  });

  test('an upstream\'s six kinds exist at 0 from the start', async () => {
    const d = createDurations();
    d.upstreamTiming('ghcr.io');
    const f = parseMetrics(await prometheusOf(createMetrics(), { durations: d }).metrics());
    for (const kind of ['manifest_get', 'manifest_head', 'blob_get', 'blob_head', 'tags', 'token']) {
      expect(sample(f, 'mirror_upstream_request_duration_seconds', { upstream: 'ghcr.io', kind })?.count).toBe('0');
    }
  });
});
