/**
 * Eager layer prefetch (issue 9): an image manifest fetched from the upstream for a client
 * starts fills of its config and layers before any client asks, bounded by
 * upstream.prefetch, joined (never duplicated) by client GETs, and harmless when it fails.
 */
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { MEDIA_TYPES, startFakeUpstream, type FakeImage, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const ACCEPT = [MEDIA_TYPES.oci.manifest, MEDIA_TYPES.oci.index, MEDIA_TYPES.docker.manifest, MEDIA_TYPES.docker.index].join(', ');
const WAIT = { timeout: 5000, interval: 20 };
/** Long enough for a prefetch that would start to reach the upstream (asserting absence). */
const SETTLE_MS = 300;

let up: FakeUpstream;
let mirror: MirrorApp;
let n = 0;

beforeAll(async () => {
  up = await startFakeUpstream();
  mirror = await startMirrorApp(up.url);
});
afterAll(async () => {
  await mirror?.close();
  await up?.close();
});
afterEach(() => up.reset());

/** A fresh image (config + `layers` layers) under a repository of its own, tagged "v1". */
function newImage(layers = 2, size = 64 * 1024): { repo: string; img: FakeImage; bytes: Map<string, Buffer> } {
  const repo = `library/pf${++n}`;
  const parts = Array.from({ length: layers }, () => randomBytes(size));
  const img = up.addImage(repo, 'v1', { layers: parts });
  return { repo, img, bytes: new Map(parts.map((b) => [sha256(b), b])) };
}

async function get(m: MirrorApp, path: string, headers: Record<string, string> = {}) {
  const res = await request(`${m.url}${path}`, { headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

/** Blob bytes the upstream sent for this digest (CDN GETs: the registry only redirects). */
const blobGets = (digest: string) => up.count({ method: 'GET', kind: 'cdn', path: `/blobs/${digest}` });
const allBlobGets = () => up.count({ method: 'GET', kind: 'cdn' }) + up.count({ method: 'GET', kind: 'blob' });

describe('eager prefetch', () => {
  test('a manifest MISS fetches the config and every layer with no client blob request', async () => {
    const { repo, img } = newImage(3);
    const started = mirror.metrics.prefetchesStarted;
    const res = await get(mirror, `/v2/${repo}/manifests/v1`, { accept: ACCEPT });
    expect(res.status).toBe(200);
    expect(res.headers['x-cache']).toBe('MISS');
    await vi.waitFor(async () => {
      for (const d of [img.config, ...img.layers]) expect(blobGets(d)).toBe(1);
    }, WAIT);
    // Linked to the repository it was fetched for (fail-closed linking unchanged).
    await vi.waitFor(async () => expect(await mirror.ports.blobs.hasRepoBlob(`docker.io/${repo}`, img.layers[2]!)).toBe(true), WAIT);
    expect(mirror.metrics.prefetchesStarted - started).toBe(4);
    // Committed for this repository: a client GET is a HIT, no upstream request, and a prefetch hit.
    await vi.waitFor(() => expect(mirror.blobFiles().length).toBeGreaterThanOrEqual(4), WAIT);
    const hits = mirror.metrics.prefetchHits;
    up.reset();
    await vi.waitFor(async () => expect((await get(mirror, `/v2/${repo}/blobs/${img.layers[0]}`)).headers['x-cache']).toBe('HIT'), WAIT);
    expect(allBlobGets()).toBe(0);
    expect(mirror.metrics.prefetchHits - hits).toBe(1);
    const metrics = await get(mirror, '/metrics');
    expect(metrics.body.toString()).toMatch(/mirror_prefetch_hits_total [1-9]/);
    expect(metrics.body.toString()).toMatch(/mirror_prefetches_total [1-9]/);
  });

  test('a client GET for a layer being prefetched joins that fill: one upstream GET, the right bytes', async () => {
    const { repo, img, bytes } = newImage(2, 256 * 1024);
    up.faults.throttle = { bytesPerChunk: 16 * 1024, intervalMs: 10 };
    const layer = img.layers[1]!;
    const hits = mirror.metrics.prefetchHits;
    expect((await get(mirror, `/v2/${repo}/manifests/v1`, { accept: ACCEPT })).status).toBe(200);
    await vi.waitFor(() => expect(blobGets(layer)).toBe(1), WAIT);
    const res = await get(mirror, `/v2/${repo}/blobs/${layer}`);
    expect(res.status).toBe(200);
    expect(res.body.equals(bytes.get(layer)!)).toBe(true);
    expect(blobGets(layer)).toBe(1);
    expect(mirror.metrics.prefetchHits - hits).toBe(1);
  });

  test('a manifest served from the cache (HIT) prefetches nothing', async () => {
    const { repo } = newImage(2);
    // The first fetch's prefetches fail (404 for this repository's blobs): nothing on disk.
    up.faults.blobsUnknownIn.add(repo);
    const failed = mirror.metrics.fillsFailed;
    expect((await get(mirror, `/v2/${repo}/manifests/v1`, { accept: ACCEPT })).status).toBe(200);
    await vi.waitFor(() => expect(mirror.metrics.fillsFailed - failed).toBe(3), WAIT);
    up.reset();
    const hit = await get(mirror, `/v2/${repo}/manifests/v1`, { accept: ACCEPT });
    expect(hit.headers['x-cache']).toBe('HIT');
    await sleep(SETTLE_MS);
    expect(allBlobGets()).toBe(0);
  });

  test('an index prefetches nothing while no platform is learned or configured (neither its children nor their layers)', async () => {
    const { repo, img } = newImage(2);
    up.addIndex(repo, 'multi', [img.digest]);
    const res = await get(mirror, `/v2/${repo}/manifests/multi`, { accept: ACCEPT });
    expect(res.status).toBe(200);
    expect(res.headers['x-cache']).toBe('MISS');
    await sleep(SETTLE_MS);
    expect(allBlobGets()).toBe(0);
    expect(up.count({ method: 'GET', kind: 'manifest', path: `/v2/${repo}/manifests/${img.digest}` })).toBe(0);
  });

  test('a failing prefetch leaves the manifest answer 200 and caches nothing; a client fetches afresh', async () => {
    const { repo, img, bytes } = newImage(2);
    for (const d of [img.config, ...img.layers]) up.faults.corrupt.add(d);
    const failed = mirror.metrics.fillsFailed;
    const res = await get(mirror, `/v2/${repo}/manifests/v1`, { accept: ACCEPT });
    expect(res.status).toBe(200);
    expect(res.body.equals(img.manifest)).toBe(true);
    await vi.waitFor(() => expect(mirror.metrics.fillsFailed - failed).toBe(3), WAIT);
    const files = mirror.blobFiles().join('\n');
    for (const d of [img.config, ...img.layers]) expect(files).not.toContain(d.slice('sha256:'.length));
    expect(mirror.tmpFiles()).toEqual([]);
    // Not retried: each blob was asked for once by the prefetch, never again on its own.
    await sleep(SETTLE_MS);
    for (const d of [img.config, ...img.layers]) expect(blobGets(d)).toBe(1);
    up.reset();
    const layer = await get(mirror, `/v2/${repo}/blobs/${img.layers[0]}`);
    expect(layer.status).toBe(200);
    expect(layer.body.equals(bytes.get(img.layers[0]!)!)).toBe(true);
  });
});

describe('upstream.prefetch', () => {
  test('prefetch=2 with 5 layers: never more than 2 prefetch GETs in flight, all 6 blobs fetched', async () => {
    const m = await startMirrorApp(up.url, { MIRROR_UPSTREAM_PREFETCH: '2' });
    try {
      const { repo, img } = newImage(5, 128 * 1024);
      up.faults.throttle = { bytesPerChunk: 16 * 1024, intervalMs: 5 };
      expect((await get(m, `/v2/${repo}/manifests/v1`, { accept: ACCEPT })).status).toBe(200);
      await vi.waitFor(() => expect(m.metrics.fillsCompleted).toBe(6), WAIT);
      for (const d of [img.config, ...img.layers]) expect(blobGets(d)).toBe(1);
      expect(up.maxInFlight('cdn')).toBe(2);
    } finally {
      await m.close();
    }
  });

  test('prefetch=0: no blob GET until a client asks', async () => {
    const m = await startMirrorApp(up.url, { MIRROR_UPSTREAM_PREFETCH: '0' });
    try {
      const { repo, img } = newImage(2);
      expect((await get(m, `/v2/${repo}/manifests/v1`, { accept: ACCEPT })).status).toBe(200);
      await sleep(SETTLE_MS);
      expect(allBlobGets()).toBe(0);
      expect((await get(m, `/v2/${repo}/blobs/${img.layers[0]}`)).status).toBe(200);
      expect(blobGets(img.layers[0]!)).toBe(1);
      expect(m.metrics.prefetchesStarted).toBe(0);
    } finally {
      await m.close();
    }
  });

  test('closing the mirror while prefetches stall ends cleanly', async () => {
    const m = await startMirrorApp(up.url, { MIRROR_UPSTREAM_PREFETCH: '1', MIRROR_UPSTREAM_TIMEOUT: '3s' });
    const { repo, img } = newImage(3);
    for (const d of img.layers) up.faults.stallAfter.set(d, 1024);
    expect((await get(m, `/v2/${repo}/manifests/v1`, { accept: ACCEPT })).status).toBe(200);
    // The config (whole), then the first layer, which stalls and holds the only prefetch slot.
    await vi.waitFor(() => expect(up.count({ method: 'GET', kind: 'cdn' })).toBe(2), WAIT);
    expect(blobGets(img.layers[0]!)).toBe(1);
    const failed = m.metrics.fillsFailed;
    // Not held by the stalled transfer until the upstream timeout (3 s here): cut at once.
    const closed = await Promise.race([m.close().then(() => 'closed'), sleep(2000).then(() => 'hung')]);
    expect(closed).toBe('closed');
    await vi.waitFor(() => expect(m.metrics.fillsFailed - failed).toBe(1), WAIT);
    await sleep(SETTLE_MS);
    // The queued prefetches were dropped, not started against a closed client.
    expect(up.count({ method: 'GET', kind: 'cdn' })).toBe(2);
  });

  test('closing with prefetches waiting for upstream slots (concurrency 1): none of them reaches the upstream afterwards', async () => {
    const m = await startMirrorApp(up.url, { MIRROR_UPSTREAM_PREFETCH: '4', MIRROR_UPSTREAM_CONCURRENCY: '1', MIRROR_UPSTREAM_TIMEOUT: '3s' });
    const { repo, img } = newImage(3);
    up.faults.stallAfter.set(img.config, 10);
    for (const d of img.layers) up.faults.stallAfter.set(d, 1024);
    expect((await get(m, `/v2/${repo}/manifests/v1`, { accept: ACCEPT })).status).toBe(200);
    // One prefetch holds the only slot (stalled); the other three wait for it.
    await vi.waitFor(() => expect(up.count({ method: 'GET', kind: 'cdn' })).toBe(1), WAIT);
    await sleep(50);
    const seen = up.requests.length;
    const closed = await Promise.race([m.close().then(() => 'closed'), sleep(2000).then(() => 'hung')]);
    expect(closed).toBe('closed');
    await sleep(SETTLE_MS);
    expect(up.requests.slice(seen)).toEqual([]);
  });
});

/** Registry blob GETs (before the CDN redirect), in the order the upstream saw them. */
const blobOrder = () => up.requests.filter((r) => r.kind === 'blob' && r.method === 'GET').map((r) => r.path.slice(r.path.lastIndexOf('/') + 1));
const manifestGets = (repo: string, digest: string) => up.count({ method: 'GET', kind: 'manifest', path: `/v2/${repo}/manifests/${digest}` });

describe('prefetch yields upstream slots to clients', () => {
  let m: MirrorApp;
  beforeAll(async () => {
    m = await startMirrorApp(up.url, { MIRROR_UPSTREAM_CONCURRENCY: '1', MIRROR_UPSTREAM_PREFETCH: '4' });
  });
  afterAll(async () => m?.close());

  test('concurrency 1: a client GET of another blob reaches the upstream before the prefetches queued ahead of it', async () => {
    const a = newImage(4, 512 * 1024);
    const b = newImage(1, 1024);
    // ~3 s per layer: the client's request must reach the slot queue while the first layer
    // still runs, even with the whole suite loading both cores (at 10 and 30 ms a chunk it
    // lost that race in full-suite runs).
    up.faults.throttle = { bytesPerChunk: 16 * 1024, intervalMs: 100 };
    expect((await get(m, `/v2/${a.repo}/manifests/v1`, { accept: ACCEPT })).status).toBe(200);
    // The prefetches have asked for their upstream slots (the config holds the only one).
    await vi.waitFor(() => expect(blobOrder().length).toBeGreaterThan(0), WAIT);
    // Which prefetch takes the slot first is not fixed (each checks the disk before it
    // asks for a slot), so the order is judged against what had started when we asked.
    const startedBefore = blobOrder().length;
    const res = await get(m, `/v2/${b.repo}/blobs/${b.img.layers[0]}`);
    expect(res.status).toBe(200);
    expect(res.body.equals(b.bytes.get(b.img.layers[0]!)!)).toBe(true);
    await vi.waitFor(() => expect(m.metrics.fillsCompleted).toBeGreaterThanOrEqual(6), { timeout: 40_000, interval: 50 });
    const order = blobOrder();
    const client = order.indexOf(b.img.layers[0]!);
    // Prefetches queued before the client's request went after it; the ones running were not
    // cut. At most one more could take a slot freed while the request was on its way (the
    // config is one 16 KiB chunk, a layer ~3 s): of the five prefetches, at least two that were queued went after it.
    expect(client).toBeGreaterThanOrEqual(startedBefore);
    expect(client).toBeLessThanOrEqual(startedBefore + 1);
    expect(order.length - 1 - client).toBeGreaterThanOrEqual(2);
    for (const d of [a.img.config, ...a.img.layers]) expect(blobGets(d)).toBe(1);
    expect(m.metrics.fillsFailed).toBe(0);
  });

  test('a client joining a prefetch still waiting for a slot moves it ahead of client requests made after it (one GET, right bytes)', async () => {
    const a = newImage(1, 1024);
    const b = newImage(1, 1024);
    expect((await get(m, `/v2/${a.repo}/manifests/v1`, { accept: ACCEPT })).status).toBe(200);
    // Every upstream answer slow from here: the first prefetch holds the only slot a while.
    up.faults.delayMs = 300;
    await vi.waitFor(() => expect(blobOrder().length).toBe(1), WAIT);
    const waiting = [a.img.config, a.img.layers[0]!].find((d) => !blobOrder().includes(d))!;
    const hits = m.metrics.prefetchHits;
    const joined = get(m, `/v2/${a.repo}/blobs/${waiting}`);
    // The client has joined the waiting prefetch's fill (a prefetch hit) before B asks.
    await vi.waitFor(() => expect(m.metrics.prefetchHits - hits).toBe(1), WAIT);
    const other = get(m, `/v2/${b.repo}/blobs/${b.img.layers[0]}`);
    const [res, res2] = await Promise.all([joined, other]);
    expect(res.status).toBe(200);
    expect(res2.status).toBe(200);
    expect(sha256(res.body)).toBe(waiting);
    const order = blobOrder();
    expect(order.indexOf(waiting)).toBe(1);
    expect(order.indexOf(b.img.layers[0]!)).toBe(2);
    expect(blobGets(waiting)).toBe(1);
  });
});

describe('index prefetch: platform manifests', () => {
  /** An index over an amd64 image (entry 0) and an arm64 image (entry 1), tagged `tag` in a new repository. */
  function newIndex(tag = 'multi') {
    const amd = newImage(1);
    const repo = amd.repo;
    const arm = { img: up.addImage(repo, undefined, { layers: [randomBytes(4096)] }) };
    const index = up.addIndex(repo, tag, [amd.img.digest, arm.img.digest]);
    return { repo, amd: amd.img, arm: arm.img, index };
  }

  test('learned: after a client pulled linux/amd64 from an index, the next index fetched prefetches its amd64 manifest and blobs, not arm64', async () => {
    const m = await startMirrorApp(up.url);
    try {
      const first = newIndex();
      expect((await get(m, `/v2/${first.repo}/manifests/multi`, { accept: ACCEPT })).status).toBe(200);
      await sleep(SETTLE_MS);
      expect(manifestGets(first.repo, first.amd.digest) + manifestGets(first.repo, first.arm.digest)).toBe(0);
      // The client picks amd64 from the index: learned.
      expect((await get(m, `/v2/${first.repo}/manifests/${first.amd.digest}`, { accept: ACCEPT })).status).toBe(200);

      const next = newIndex();
      const manifests = m.metrics.prefetchManifests;
      expect((await get(m, `/v2/${next.repo}/manifests/multi`, { accept: ACCEPT })).status).toBe(200);
      await vi.waitFor(() => {
        for (const d of [next.amd.config, ...next.amd.layers]) expect(blobGets(d)).toBe(1);
      }, WAIT);
      expect(manifestGets(next.repo, next.amd.digest)).toBe(1);
      expect(m.metrics.prefetchManifests - manifests).toBe(1);
      // Cached for the repository whose index named it: the client's pull is a HIT, no second GET.
      const child = await get(m, `/v2/${next.repo}/manifests/${next.amd.digest}`, { accept: ACCEPT });
      expect(child.headers['x-cache']).toBe('HIT');
      expect(child.body.equals(next.amd.manifest)).toBe(true);
      expect(manifestGets(next.repo, next.amd.digest)).toBe(1);
      await sleep(SETTLE_MS);
      expect(manifestGets(next.repo, next.arm.digest)).toBe(0);
      for (const d of [next.arm.config, ...next.arm.layers]) expect(blobGets(d)).toBe(0);
      const stats = JSON.parse((await get(m, '/admin/stats')).body.toString());
      expect(stats.prefetch.learnedPlatforms).toEqual(['linux/amd64']);
    } finally {
      await m.close();
    }
  });

  test('configured: upstream.prefetch_platforms=linux/arm64 prefetches the arm64 manifest of the first index, and nothing else', async () => {
    const m = await startMirrorApp(up.url, { MIRROR_UPSTREAM_PREFETCH_PLATFORMS: 'linux/arm64' });
    try {
      const x = newIndex();
      expect((await get(m, `/v2/${x.repo}/manifests/multi`, { accept: ACCEPT })).status).toBe(200);
      await vi.waitFor(() => {
        for (const d of [x.arm.config, ...x.arm.layers]) expect(blobGets(d)).toBe(1);
      }, WAIT);
      expect(manifestGets(x.repo, x.arm.digest)).toBe(1);
      await sleep(SETTLE_MS);
      expect(manifestGets(x.repo, x.amd.digest)).toBe(0);
      for (const d of [x.amd.config, ...x.amd.layers]) expect(blobGets(d)).toBe(0);
    } finally {
      await m.close();
    }
  });

  test('a client asking for a platform manifest while its prefetch is in flight joins it: one upstream GET, the right bytes', async () => {
    const m = await startMirrorApp(up.url, { MIRROR_UPSTREAM_PREFETCH_PLATFORMS: 'linux/arm64' });
    try {
      const x = newIndex();
      up.faults.delayMs = 200;
      expect((await get(m, `/v2/${x.repo}/manifests/multi`, { accept: ACCEPT })).status).toBe(200);
      await vi.waitFor(() => expect(m.metrics.prefetchManifests).toBe(1), WAIT);
      const child = await get(m, `/v2/${x.repo}/manifests/${x.arm.digest}`, { accept: ACCEPT });
      expect(child.status).toBe(200);
      expect(child.body.equals(x.arm.manifest)).toBe(true);
      expect(manifestGets(x.repo, x.arm.digest)).toBe(1);
      await vi.waitFor(() => expect(blobGets(x.arm.layers[0]!)).toBe(1), WAIT);
    } finally {
      await m.close();
    }
  });

  test('an index fetched for one repository prefetches only into that repository; the same index by another name is confirmed, not trusted', async () => {
    const m = await startMirrorApp(up.url, { MIRROR_UPSTREAM_PREFETCH_PLATFORMS: 'linux/arm64' });
    try {
      const x = newIndex();
      expect((await get(m, `/v2/${x.repo}/manifests/multi`, { accept: ACCEPT })).status).toBe(200);
      await vi.waitFor(() => expect(blobGets(x.arm.layers[0]!)).toBe(1), WAIT);
      await vi.waitFor(async () => expect(await m.ports.manifests.repoManifestType(`docker.io/${x.repo}`, x.arm.digest)).toBeDefined(), WAIT);
      // The upstream does not have it under another name: that name never gets it.
      const other = await get(m, `/v2/library/elsewhere/manifests/${x.arm.digest}`, { accept: ACCEPT });
      expect(other.status).toBe(404);
      expect(await m.ports.manifests.repoManifestType('docker.io/library/elsewhere', x.arm.digest)).toBeUndefined();
    } finally {
      await m.close();
    }
  });
});

describe('rate-limit budget', () => {
  test('below upstream.prefetch_min_budget nothing is prefetched; the skips show in /admin/stats and /metrics', async () => {
    // The fake allows 100 manifest GETs: after the first, 99 are left, below 100.
    const m = await startMirrorApp(up.url, { MIRROR_UPSTREAM_PREFETCH_MIN_BUDGET: '100' });
    try {
      const { repo, img } = newImage(2);
      expect((await get(m, `/v2/${repo}/manifests/v1`, { accept: ACCEPT })).status).toBe(200);
      await vi.waitFor(() => expect(m.metrics.prefetchSkipped).toBe(3), WAIT);
      await sleep(SETTLE_MS);
      expect(allBlobGets()).toBe(0);
      expect(m.metrics.prefetchesStarted).toBe(0);
      const stats = JSON.parse((await get(m, '/admin/stats')).body.toString());
      expect(stats).toMatchObject({ prefetchesStarted: 0, prefetchHits: 0, prefetchSkipped: 3, prefetch: { rateLimitRemaining: 99, inFlight: 0, queued: 0 } });
      expect((await get(m, '/metrics')).body.toString()).toContain('mirror_prefetches_skipped_total 3');
      // A client still gets its blob (skipping is about prefetch only).
      expect((await get(m, `/v2/${repo}/blobs/${img.layers[0]}`)).status).toBe(200);
    } finally {
      await m.close();
    }
  });
});

describe('prefetch stats', () => {
  test('/admin/stats shows prefetches started and hits', async () => {
    const m = await startMirrorApp(up.url);
    try {
      const { repo, img } = newImage(1);
      expect((await get(m, `/v2/${repo}/manifests/v1`, { accept: ACCEPT })).status).toBe(200);
      await vi.waitFor(() => expect(m.metrics.fillsCompleted).toBe(2), WAIT);
      await vi.waitFor(async () => expect((await get(m, `/v2/${repo}/blobs/${img.layers[0]}`)).headers['x-cache']).toBe('HIT'), WAIT);
      const stats = JSON.parse((await get(m, '/admin/stats')).body.toString());
      expect(stats).toMatchObject({ prefetchesStarted: 2, prefetchHits: 1, prefetchSkipped: 0, prefetchManifests: 0 });
    } finally {
      await m.close();
    }
  });
});
