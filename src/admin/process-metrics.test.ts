import { Registry } from 'prom-client';
import { describe, expect, test } from 'vitest';
import { parseMetrics, sample, valueOf } from '../../test/helpers/prometheus-text.js';
import { registerProcessMetrics } from './process-metrics.js';

describe('process metrics', () => {
  test('read the process at scrape time: CPU, memory, heap spaces, open files, event-loop delay', async () => {
    const registry = new Registry();
    registerProcessMetrics(registry);
    // Some event-loop turns for the delay monitor (10 ms resolution) to sample.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 15));
    const f = parseMetrics(await registry.metrics());
    expect(valueOf(f, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(f, 'process_cpu_seconds_total')).toBeCloseTo(valueOf(f, 'process_cpu_user_seconds_total')! + valueOf(f, 'process_cpu_system_seconds_total')!, 1);
    const rss = valueOf(f, 'process_resident_memory_bytes')!;
    expect(Math.abs(rss - process.memoryUsage.rss()) / rss).toBeLessThan(0.2);
    expect(valueOf(f, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(valueOf(f, 'nodejs_heap_space_size_used_bytes', { space: 'old_space' })).toBeGreaterThan(0);
    expect(valueOf(f, 'process_open_fds')).toBeGreaterThan(2);
    expect(Math.abs(valueOf(f, 'process_start_time_seconds')! - (Date.now() / 1000 - process.uptime()))).toBeLessThan(2);
    const p99 = valueOf(f, 'nodejs_eventloop_lag_p99_seconds')!;
    expect(p99).toBeGreaterThan(0);
    expect(valueOf(f, 'nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(p99);
    // No GC histogram unless asked for (metrics.gc): Node's GC observer cost ~10 MiB of peak RSS under load.
    expect(f.get('nodejs_gc_duration_seconds')).toBeUndefined();
    expect(sample(f, 'nodejs_eventloop_lag_seconds')).toBeDefined();
  });

  test('with metrics.gc: nodejs_gc_duration_seconds counts the collections by kind', async () => {
    const registry = new Registry();
    registerProcessMetrics(registry, { gc: true });
    // Garbage enough for several young-generation collections, then a turn for the observer.
    let keep: unknown[] = [];
    for (let i = 0; i < 2_000_000; i++) { keep.push({ i }); if (keep.length > 10_000) keep = []; }
    await new Promise((resolve) => setTimeout(resolve, 50));
    const f = parseMetrics(await registry.metrics());
    expect(f.get('nodejs_gc_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(valueOf(f, 'nodejs_gc_duration_seconds', { kind: 'minor' })).toBeGreaterThan(0);
  });
});
