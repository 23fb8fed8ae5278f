import { describe, expect, test } from 'vitest';
import { silentLogger } from '../log/logger.js';
import { createMetrics } from '../admin/metrics.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';
import { RateLimitBudget } from '../upstream/rate-limit-budget.js';
import { Prefetcher, type PrefetcherDeps } from './prefetch.js';

const budget = new RateLimitBudget();
const target = { cacheRepo: 'docker.io/library/app', upstream: { rateLimit: budget } } as unknown as MirrorTarget;
const prefetcher = (start: PrefetcherDeps['blob'], limit: number, more: Partial<PrefetcherDeps> = {}) =>
  new Prefetcher({ blob: start, limit, log: silentLogger, ...more });
const d = (i: number) => `sha256:${String(i).padStart(64, '0')}`;
const tick = () => new Promise((r) => setImmediate(r));

/** A start() whose fills end when the test says so. */
function fakeFills() {
  const started: string[] = [];
  const finish = new Map<string, (ok: boolean) => void>();
  let running = 0;
  let peak = 0;
  const start = async (_t: MirrorTarget, digest: { value: string }) => {
    started.push(digest.value);
    running++;
    peak = Math.max(peak, running);
    const done = new Promise<void>((resolve, reject) => {
      finish.set(digest.value, (ok) => { running--; if (ok) resolve(); else reject(new Error('fill failed')); });
    });
    return { done };
  };
  return { start, started, finish, peak: () => peak };
}

describe('Prefetcher', () => {
  test('bounded: at most `limit` at once; the next starts when one ends, failed or not', async () => {
    const f = fakeFills();
    const p = prefetcher(f.start, 2);
    p.enqueue(target, [d(1), d(2), d(3), d(4), d(5)]);
    await tick();
    expect(f.started).toEqual([d(1), d(2)]);
    f.finish.get(d(1))!(false);
    await tick();
    expect(f.started).toEqual([d(1), d(2), d(3)]);
    for (const x of [2, 3, 4, 5]) {
      await tick();
      f.finish.get(d(x))!(true);
    }
    await tick();
    expect(f.started).toHaveLength(5);
    expect(f.peak()).toBe(2);
    expect(p.inFlight).toBe(0);
  });

  test('never asks twice for a digest queued or in flight for the same repository; invalid digests are dropped', async () => {
    const f = fakeFills();
    const p = prefetcher(f.start, 1);
    p.enqueue(target, [d(1), d(1), 'sha256:nope', d(2)]);
    p.enqueue(target, [d(2), d(1)]);
    await tick();
    f.finish.get(d(1))!(true);
    await tick();
    f.finish.get(d(2))!(true);
    await tick();
    expect(f.started).toEqual([d(1), d(2)]);
  });

  test('limit 0 starts nothing; close() drops the queue and starts nothing more', async () => {
    const off = fakeFills();
    prefetcher(off.start, 0).enqueue(target, [d(1)]);
    await tick();
    expect(off.started).toEqual([]);

    const f = fakeFills();
    const p = prefetcher(f.start, 1);
    p.enqueue(target, [d(1), d(2), d(3)]);
    await tick();
    p.close();
    f.finish.get(d(1))!(true);
    p.enqueue(target, [d(4)]);
    await tick();
    expect(f.started).toEqual([d(1)]);
  });

  test('a low rate-limit budget skips what would start (counted); it starts again once the budget is back', async () => {
    const f = fakeFills();
    const metrics = createMetrics();
    const b = new RateLimitBudget();
    const t = { cacheRepo: 'docker.io/library/low', upstream: { rateLimit: b } } as unknown as MirrorTarget;
    const p = prefetcher(f.start, 1, { minBudget: 10, metrics });
    p.enqueue(t, [d(1), d(2)]);
    await tick();
    expect(f.started).toEqual([d(1)]);
    // The budget drops while d(2) waits: it is skipped when it would start, not fetched.
    b.observe(200, { 'ratelimit-remaining': '9;w=21600' });
    f.finish.get(d(1))!(true);
    await tick();
    p.enqueue(t, [d(3)]);
    await tick();
    expect(f.started).toEqual([d(1)]);
    expect(metrics.prefetchSkipped).toBe(2);
    b.observe(200, { 'ratelimit-remaining': '10;w=21600' });
    p.enqueue(t, [d(3)]);
    await tick();
    expect(f.started).toEqual([d(1), d(3)]);
  });

  test('platform manifests share the bound with blobs; their blobs come back through enqueue()', async () => {
    const f = fakeFills();
    const manifests: string[] = [];
    let p: Prefetcher;
    const manifest = async (t: MirrorTarget, digest: string) => {
      manifests.push(digest);
      p.enqueue(t, [d(10 + manifests.length)]);
    };
    p = prefetcher(f.start, 1, { manifest });
    p.enqueueManifests(target, [d(1), d(2), d(1)]);
    await tick();
    await tick();
    expect(manifests).toEqual([d(1), d(2)]);
    expect(f.started).toEqual([d(11)]);
    f.finish.get(d(11))!(true);
    await tick();
    expect(f.started).toEqual([d(11), d(12)]);
    expect(f.peak()).toBe(1);
  });
});
