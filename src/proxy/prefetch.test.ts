import { describe, expect, test } from 'vitest';
import { silentLogger } from '../log/logger.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';
import { Prefetcher } from './prefetch.js';

const target = { cacheRepo: 'docker.io/library/app' } as MirrorTarget;
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
    const p = new Prefetcher(f.start, 2, silentLogger);
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
    const p = new Prefetcher(f.start, 1, silentLogger);
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
    new Prefetcher(off.start, 0, silentLogger).enqueue(target, [d(1)]);
    await tick();
    expect(off.started).toEqual([]);

    const f = fakeFills();
    const p = new Prefetcher(f.start, 1, silentLogger);
    p.enqueue(target, [d(1), d(2), d(3)]);
    await tick();
    p.close();
    f.finish.get(d(1))!(true);
    p.enqueue(target, [d(4)]);
    await tick();
    expect(f.started).toEqual([d(1)]);
  });
});
