import { describe, expect, test } from 'vitest';
import { EventBus } from '../events/event-bus.js';
import { createMetrics, subscribeMetrics } from './metrics.js';

describe('metrics from events', () => {
  test('manifest pulls and blob GETs/HEADs count by cache result; local pulls (no cache result) and other events do not', () => {
    const bus = new EventBus();
    const m = createMetrics();
    subscribeMetrics(bus, m);
    bus.emit('manifest.pulled', { cache: 'HIT' });
    bus.emit('manifest.pulled', { cache: 'HIT' });
    bus.emit('manifest.pulled', { cache: 'STALE' });
    bus.emit('manifest.pulled', {});
    bus.emit('blob.pulled', { cache: 'MISS' });
    bus.emit('blob.checked', { cache: 'HIT' });
    bus.emit('blob.filled', { cache: 'MISS' });
    bus.emit('blob.pushed', {});
    expect(m.cache.manifest).toEqual({ HIT: 2, MISS: 0, STALE: 1, REVALIDATED: 0 });
    expect(m.cache.blob).toEqual({ HIT: 1, MISS: 1, STALE: 0, REVALIDATED: 0 });
  });
});
