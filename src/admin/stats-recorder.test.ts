import { describe, expect, it } from 'vitest';
import { EventBus } from '../events/event-bus.js';
import type { StatsDelta } from '../storage/index-rows.js';
import { createMetrics } from './metrics.js';
import { HOUR_MS, StatsRecorder } from './stats-recorder.js';

describe('StatsRecorder', () => {
  const setup = () => {
    const metrics = createMetrics();
    const events = new EventBus();
    const written: StatsDelta[] = [];
    let fail = false;
    let clock = 5 * HOUR_MS + 1234;
    const recorder = new StatsRecorder({
      metrics, events, now: () => clock,
      index: { addStats: async (d) => { if (fail) throw new Error('disk I/O error'); written.push(d); } },
    });
    return { metrics, events, written, recorder, setFail: (f: boolean) => { fail = f; }, setClock: (t: number) => { clock = t; } };
  };

  it('writes nothing per request: counts reach the index only at a flush, as the difference to the last one', async () => {
    const { metrics, events, written, recorder } = setup();
    metrics.cache.manifest.HIT += 3;
    metrics.bytesServed += 100;
    events.emit('manifest.pulled', { repository: 'docker.io/library/a', cache: 'HIT' });
    expect(written).toEqual([]);
    await recorder.flush();
    expect(written).toHaveLength(1);
    expect(written[0]!.hour).toBe(5 * HOUR_MS);
    expect(written[0]!.counters).toEqual({ 'manifest.hit': 3, 'bytes.served': 100 });
    expect(written[0]!.repoPulls).toEqual([{ repo: 'docker.io/library/a', pulls: 1, at: expect.any(Number) }]);
    await recorder.flush();
    expect(written).toHaveLength(1);
    metrics.cache.blob.MISS++;
    await recorder.flush();
    expect(written[1]!.counters).toEqual({ 'blob.miss': 1 });
    expect(written[1]!.repoPulls).toEqual([]);
  });

  it('a failed write loses nothing: the next flush carries it with what came since', async () => {
    const { metrics, events, written, recorder, setFail } = setup();
    metrics.cache.manifest.MISS++;
    events.emit('manifest.pulled', { repository: 'r', cache: 'MISS' });
    setFail(true);
    await expect(recorder.flush()).rejects.toThrow('disk I/O error');
    metrics.cache.manifest.MISS++;
    events.emit('manifest.pulled', { repository: 'r', cache: 'MISS' });
    setFail(false);
    await recorder.flush();
    expect(written).toHaveLength(1);
    expect(written[0]!.counters).toEqual({ 'manifest.miss': 2 });
    expect(written[0]!.repoPulls).toEqual([{ repo: 'r', pulls: 2, at: expect.any(Number) }]);
  });
});
