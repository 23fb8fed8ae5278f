import { describe, expect, test } from 'vitest';
import { createMetrics } from './metrics.js';
import { upstreamMetricsView } from './upstream-metrics.js';

describe('per-upstream metrics view', () => {
  test('upstream requests, errors and bytes count in the totals and for the upstream; other counters only in the totals', () => {
    const m = createMetrics();
    const hub = upstreamMetricsView(m, 'docker.io');
    const ghcr = upstreamMetricsView(m, 'ghcr.io');
    hub.upstreamRequests.blob_get++;
    ghcr.upstreamRequests.blob_get += 2;
    ghcr.upstreamErrors++;
    ghcr.bytesFromUpstream += 100;
    hub.fillsCompleted++;
    expect(m.upstreamRequests.blob_get).toBe(3);
    expect(m.upstreamErrors).toBe(1);
    expect(m.bytesFromUpstream).toBe(100);
    expect(m.fillsCompleted).toBe(1);
    expect(m.byUpstream['docker.io']).toEqual({ requests: { manifest_get: 0, manifest_head: 0, blob_get: 1, blob_head: 0, tags: 0 }, errors: 0, bytes: 0 });
    expect(m.byUpstream['ghcr.io']).toMatchObject({ requests: { blob_get: 2 }, errors: 1, bytes: 100 });
    // Reads through a view are the totals (what the proxies compare against, if ever).
    expect(hub.upstreamRequests.blob_get).toBe(3);
  });
});
