import { describe, expect, it } from 'vitest';
import { MinuteSeries } from './minute-series.js';
import { RecentErrors } from './recent-errors.js';

describe('MinuteSeries', () => {
  it('keeps what was counted each minute, the open minute last, and at most `capacity` closed minutes', () => {
    let t = 1_000;
    const counters: Record<string, number> = { 'manifest.hit': 5 };
    const series = new MinuteSeries(() => counters, () => t, 3);
    expect(series.entries()).toEqual([{ minute: 1_000, counters: {} }]);
    counters['manifest.hit'] = 7;
    counters['bytes.served'] = 100;
    expect(series.entries()).toEqual([{ minute: 1_000, counters: { 'manifest.hit': 2, 'bytes.served': 100 } }]);
    for (let i = 1; i <= 4; i++) {
      t += 60_000;
      series.sample();
      counters['manifest.hit']! += i;
    }
    const e = series.entries();
    expect(e).toHaveLength(4);
    // The first minute fell out; each entry holds its own minute's difference.
    expect(e.map((s) => s.minute)).toEqual([61_000, 121_000, 181_000, 241_000]);
    expect(e.map((s) => s.counters['manifest.hit'] ?? 0)).toEqual([1, 2, 3, 4]);
  });

  it('samples on its timer until stopped', async () => {
    let n = 0;
    const series = new MinuteSeries(() => ({ x: ++n }), () => 0, 60);
    series.start(5);
    await new Promise((r) => setTimeout(r, 40));
    series.stop();
    const closed = series.entries().length - 1;
    expect(closed).toBeGreaterThan(1);
    await new Promise((r) => setTimeout(r, 30));
    expect(series.entries().length - 1).toBe(closed);
  });
});

describe('RecentErrors', () => {
  it('keeps the newest `capacity` entries, newest first, and drops codes that are free text', () => {
    const ring = new RecentErrors(() => 42, 2);
    ring.add('GET', 'blobs', 502, 'UPSTREAM_UNAVAILABLE');
    ring.add('GET', 'manifests', 429, 'TOOMANYREQUESTS');
    ring.add('PUT', 'uploads', 500, 'connect ECONNREFUSED 10.1.2.3:443');
    expect(ring.list()).toEqual([
      { at: 42, method: 'PUT', route: 'uploads', status: 500 },
      { at: 42, method: 'GET', route: 'manifests', status: 429, code: 'TOOMANYREQUESTS' },
    ]);
  });
});
