/**
 * Issue 11, item 5: /metrics as Prometheus scrapes it (prom-client's exposition, parsed
 * with parse-prometheus-text-format). After a scripted sequence — a cold manifest GET,
 * the same manifest from the memo, a blob GET filled from the upstream, a 404, an unknown
 * endpoint, an odd method and a huge path — the request and upstream latency histograms
 * went up by exactly what was done, and no label carries a repository name or digest.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { METHODS, ROUTES } from '../../src/http/request-done.js';
import { startFakeUpstream, type FakeImage, type FakeUpstream, type RequestKind } from '../helpers/fake-upstream.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';
import { parseMetrics, valueOf, type ParsedFamily } from '../helpers/prometheus-text.js';

let up: FakeUpstream;
let mirror: MirrorApp;
let image: FakeImage;
const REPO = 'library/secretproject';

beforeAll(async () => {
  up = await startFakeUpstream();
  image = up.addImage(REPO, 'v1', { layers: [randomBytes(2000)], mediaType: 'oci' });
  // No eager prefetch: every upstream request below is the test's own.
  mirror = await startMirrorApp(up.url, { MIRROR_UPSTREAM_PREFETCH: '0' });
});
afterAll(async () => {
  await mirror?.close();
  await up?.close();
});

async function call(path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const res = await request(`${mirror.url}${path}`, { method });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

async function scrape(): Promise<Map<string, ParsedFamily>> {
  const r = await call('/metrics');
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseMetrics(r.text);
}

const HTTP = 'mirror_http_request_duration_seconds';
const UPSTREAM = 'mirror_upstream_request_duration_seconds';
const http = (f: Map<string, ParsedFamily>, route: string, method: string, status: number) => valueOf(f, HTTP, { route, method, status: String(status) });

/** Upstream requests the fake registry answered, one per logical request (a 401 before the token retry is not one). */
const answered = (kind: RequestKind, method: string) => up.count({ kind, method }) - up.count({ kind, method, status: 401 });

describe('/metrics after a scripted sequence', () => {
  test('request and upstream histograms count exactly what was done; every family has HELP and TYPE; no label names a repository or digest', async () => {
    const before = await scrape();
    up.reset();
    const upstreamBefore = (kind: string) => valueOf(before, UPSTREAM, { upstream: 'docker.io', kind });

    const manifestPath = `/v2/${REPO}/manifests/v1`;
    expect((await call(manifestPath)).headers['x-cache']).toBe('MISS');
    // Fresh in the memo now: answered by the listener's first step.
    expect((await call(manifestPath)).headers['x-cache']).toBe('HIT');
    expect((await call(manifestPath, 'HEAD')).status).toBe(200);
    expect((await call(`/v2/${REPO}/blobs/${image.layers[0]}`)).status).toBe(200);
    expect((await call('/v2/library/missing/manifests/v1')).status).toBe(404);
    expect((await call('/no/such/endpoint')).status).toBe(404);
    const odd = await call(`/v2/${REPO}/manifests/v1`, 'PROPFIND');
    const huge = await call(`/v2/${REPO}/${'x/'.repeat(3000)}manifests/v1`);

    const after = await scrape();
    const delta = (route: string, method: string, status: number) => http(after, route, method, status) - http(before, route, method, status);
    expect(delta('manifests', 'GET', 200)).toBe(2);
    expect(delta('manifests', 'HEAD', 200)).toBe(1);
    expect(delta('blobs', 'GET', 200)).toBe(1);
    expect(delta('manifests', 'GET', 404)).toBe(1);
    expect(delta('other', 'GET', 404)).toBe(1);
    expect(delta('manifests', 'other', odd.status)).toBe(1);
    // The huge path still ends in /manifests/<tag>: a manifest request, for a name the mirror refuses.
    expect(delta('manifests', 'GET', huge.status)).toBe(1);
    // The scrape before this one (a response is counted once it has finished).
    expect(delta('metrics', 'GET', 200)).toBe(1);
    const httpCount = (f: Map<string, ParsedFamily>) => f.get(HTTP)!.metrics.reduce((n, s) => n + Number(s.count), 0);
    expect(httpCount(after) - httpCount(before)).toBe(9);

    // Upstream: one observation per logical request, as the fake registry answered them.
    const upstreamDelta = (kind: string) => valueOf(after, UPSTREAM, { upstream: 'docker.io', kind }) - upstreamBefore(kind);
    expect(upstreamDelta('manifest_get')).toBe(answered('manifest', 'GET'));
    expect(answered('manifest', 'GET')).toBe(2); // the image's and the missing one's
    expect(upstreamDelta('blob_get')).toBe(answered('blob', 'GET'));
    expect(answered('blob', 'GET')).toBe(1);
    expect(upstreamDelta('token')).toBe(up.count({ kind: 'token' }));
    expect(up.count({ kind: 'token' })).toBeGreaterThan(0);
    expect(upstreamDelta('manifest_head')).toBe(answered('manifest', 'HEAD'));

    // Histogram buckets are cumulative and end at the count.
    for (const s of after.get(HTTP)!.metrics) {
      const counts = Object.entries(s.buckets!).sort(([a], [b]) => (a === '+Inf' ? 1 : b === '+Inf' ? -1 : Number(a) - Number(b))).map(([, v]) => Number(v));
      expect(counts).toEqual([...counts].sort((a, b) => a - b));
      expect(counts.at(-1)).toBe(Number(s.count));
    }

    // Bounded labels: fixed routes and methods, a status code; nothing names a repository or digest.
    for (const s of after.get(HTTP)!.metrics) {
      expect(ROUTES).toContain(s.labels!.route);
      expect(METHODS).toContain(s.labels!.method);
      expect(s.labels!.status).toMatch(/^\d{3}$/);
    }
    for (const family of after.values()) {
      for (const s of family.metrics) {
        for (const v of Object.values(s.labels ?? {})) {
          expect(v).not.toMatch(/secretproject|missing|library|sha256|x\/x/);
          expect(v).not.toContain(image.layers[0]!.slice(7, 20));
        }
      }
    }
  });

  test('existing families keep their names and types; new ones are there', async () => {
    const f = await scrape();
    const types: Record<string, string> = {
      mirror_cache_requests_total: 'COUNTER', mirror_upstream_requests_total: 'COUNTER', mirror_upstream_errors_total: 'COUNTER',
      mirror_blob_fills_total: 'COUNTER', mirror_prefetches_total: 'COUNTER', mirror_prefetch_hits_total: 'COUNTER',
      mirror_prefetch_manifests_total: 'COUNTER', mirror_prefetches_skipped_total: 'COUNTER', mirror_upstream_bytes_total: 'COUNTER',
      mirror_served_bytes_total: 'COUNTER', mirror_retention_runs_total: 'COUNTER', mirror_retention_evicted_blobs_total: 'COUNTER',
      mirror_retention_evicted_bytes_total: 'COUNTER',
      mirror_blobs: 'GAUGE', mirror_blob_bytes: 'GAUGE', mirror_manifests: 'GAUGE', mirror_tags: 'GAUGE',
      mirror_blob_fills_in_progress: 'GAUGE', mirror_uploads_in_progress: 'GAUGE', mirror_upstream_rate_limited_seconds: 'GAUGE',
      mirror_upstream_endpoint_open: 'GAUGE', mirror_disk_bytes: 'GAUGE', mirror_disk_free_bytes: 'GAUGE',
      mirror_retention_last_run_timestamp_seconds: 'GAUGE', mirror_retention_last_run_duration_seconds: 'GAUGE',
      [HTTP]: 'HISTOGRAM', [UPSTREAM]: 'HISTOGRAM',
      process_cpu_seconds_total: 'COUNTER', process_resident_memory_bytes: 'GAUGE', nodejs_eventloop_lag_seconds: 'GAUGE',
      nodejs_heap_size_used_bytes: 'GAUGE', nodejs_heap_space_size_used_bytes: 'GAUGE', process_open_fds: 'GAUGE',
    };
    for (const [name, type] of Object.entries(types)) expect(f.get(name)?.type, name).toBe(type);
    expect(valueOf(f, 'mirror_upstream_requests_total', { upstream: 'docker.io', kind: 'blob_get' })).toBeGreaterThan(0);
    expect(valueOf(f, 'mirror_disk_bytes', { origin: 'mirrored' })).toBe(2000);
    expect(valueOf(f, 'mirror_disk_bytes', { origin: 'pushed' })).toBe(0);
    expect(valueOf(f, 'mirror_disk_free_bytes')).toBeGreaterThan(0);
  });
});

describe('a response the client cut short', () => {
  test('counts once, with the status that was sent', async () => {
    const big = up.addImage('library/bigblob', 'v1', { layers: [randomBytes(16 * 1024 * 1024)], mediaType: 'oci' });
    const path = `/v2/library/bigblob/blobs/${big.layers[0]}`;
    expect((await call(path)).status).toBe(200); // cached now
    const before = await scrape();
    const res = await request(`${mirror.url}${path}`);
    expect(res.statusCode).toBe(200);
    // Read a little, then hang up: most of the 16 MiB is still to be sent.
    for await (const _chunk of res.body) break;
    // The mirror sees the close on its own time; wait for the count (bounded), not for a duration.
    let after = await scrape();
    for (let i = 0; i < 100 && http(after, 'blobs', 'GET', 200) === http(before, 'blobs', 'GET', 200); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = await scrape();
    }
    expect(http(after, 'blobs', 'GET', 200) - http(before, 'blobs', 'GET', 200)).toBe(1);
  });
});

describe('process metrics', () => {
  test('a process that built /metrics (its event-loop monitor) and scraped it still exits on its own', async () => {
    const prometheus = fileURLToPath(new URL('../../dist/admin/prometheus.js', import.meta.url));
    const script = `
      const { createPrometheus } = await import(${JSON.stringify(prometheus)});
      const { createDurations } = await import(${JSON.stringify(prometheus.replace('prometheus.js', 'durations.js'))});
      const { createMetrics } = await import(${JSON.stringify(prometheus.replace('prometheus.js', 'metrics.js'))});
      const stats = { blobs: 0, blobBytes: 0, manifests: 0, tags: 0, repositories: 0 };
      const contents = { bytesByOrigin: { mirrored: 0, pushed: 0 }, manifestBytes: 0, oldestAccess: null, topByBytes: [], topByPulls: [] };
      for (let i = 0; i < 3; i++) {
        const p = createPrometheus({ metrics: createMetrics(), durations: createDurations(), now: Date.now,
          index: { stats: async () => stats, cacheContents: async () => contents },
          fillsInProgress: () => 0, uploadsInProgress: () => 0, upstreamHealth: () => [] });
        const text = await p.metrics();
        if (!text.includes('nodejs_eventloop_lag_p99_seconds')) process.exit(3);
      }
      console.log('scraped');`;
    // The timeout only stops a hung child; the assertion is that it exited by itself, with 0.
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 });
    expect(stdout.trim()).toBe('scraped');
  });
});
