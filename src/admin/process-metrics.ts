import { readdir } from 'node:fs/promises';
import { PerformanceObserver, constants, monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { Counter, Gauge, type Registry } from 'prom-client';
import { DurationSet, type DurationSeries } from './durations.js';
import { exportDurations } from './prometheus-durations.js';

/**
 * Process metrics under the names prom-client's collectDefaultMetrics uses (CPU, memory,
 * heap spaces, event-loop lag, file descriptors), read at scrape time; the only work
 * between scrapes is Node's native event-loop delay histogram.
 *
 * Not collectDefaultMetrics itself, and GC durations only with `metrics.gc`: a GC observer
 * (a PerformanceObserver on 'gc' entries, as prom-client's default set has) raised the
 * mirror's peak RSS under the bench's manifest load by ~10 MiB. `npm run bench -- --only index`, peak RSS with a 1k-row / 1M-row
 * index: no process metrics 84.4 / 102 MiB; collectDefaultMetrics 95.7 / 112; these
 * families with a GC observer of our own 95.6 / 112; these families without it 85.3 / 101.
 */

let loop: IntervalHistogram | undefined;

/** The event-loop delay monitor, once per process (native, sampled every 10 ms; it never keeps the process alive). */
function loopDelay(): IntervalHistogram {
  if (!loop) {
    loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
  }
  return loop;
}

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
let gcDurations: DurationSet | undefined;

/** GC pauses by kind, from a GC observer started once per process (it never keeps the process alive). */
function gcObserver(): DurationSet {
  if (gcDurations) return gcDurations;
  const set = new DurationSet();
  const byKind = new Map<number, DurationSeries>();
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind ?? -1;
      let series = byKind.get(kind);
      if (!series) byKind.set(kind, series = set.add({ kind: GC_KINDS[kind] ?? 'other' }));
      series.observe(entry.duration / 1000);
    }
  }).observe({ entryTypes: ['gc'] });
  gcDurations = set;
  return set;
}

/** Registers the process families on `registry`; `gc`: also nodejs_gc_duration_seconds (config metrics.gc). */
export function registerProcessMetrics(registry: Registry, options: { gc?: boolean } = {}): void {
  const loop = loopDelay();
  const gauge = (name: string, help: string, read: () => number | undefined) => new Gauge({
    name, help, registers: [registry],
    collect() { const v = read(); if (v !== undefined) this.set(v); },
  });
  const cpu = (name: string, help: string, pick: (u: NodeJS.CpuUsage) => number) => new Counter({
    name, help, registers: [registry],
    collect() { this.reset(); this.inc(pick(process.cpuUsage()) / 1e6); },
  });
  cpu('process_cpu_user_seconds_total', 'User CPU time spent in seconds.', (u) => u.user);
  cpu('process_cpu_system_seconds_total', 'System CPU time spent in seconds.', (u) => u.system);
  cpu('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', (u) => u.user + u.system);
  gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', () => Math.round(Date.now() / 1000 - process.uptime()));
  gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage.rss());
  const heap = () => process.memoryUsage();
  gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', () => heap().heapTotal);
  gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', () => heap().heapUsed);
  gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', () => heap().external);
  new Gauge({
    name: 'process_open_fds', help: 'Number of open file descriptors.', registers: [registry],
    async collect() { try { this.set((await readdir('/proc/self/fd')).length); } catch { /* not Linux */ } },
  });
  // The event-loop delay since the last scrape: the first of these gauges a scrape reads
  // takes the figures and starts a fresh window (a scrape reads them within a millisecond).
  let window: { at: number; mean: number; p50: number; p99: number; max: number } | undefined;
  const lagOf = (pick: (w: NonNullable<typeof window>) => number) => (): number | undefined => {
    const now = performance.now();
    if (!window || now - window.at > 1000) {
      window = loop.count > 0
        ? { at: now, mean: loop.mean, p50: loop.percentile(50), p99: loop.percentile(99), max: loop.max }
        : undefined;
      loop.reset();
    }
    return window ? pick(window) / 1e9 : undefined;
  };
  gauge('nodejs_eventloop_lag_seconds', 'Mean event-loop delay since the last scrape, in seconds.', lagOf((w) => w.mean));
  gauge('nodejs_eventloop_lag_p50_seconds', 'The 50th percentile of the event-loop delay since the last scrape, in seconds.', lagOf((w) => w.p50));
  gauge('nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the event-loop delay since the last scrape, in seconds.', lagOf((w) => w.p99));
  gauge('nodejs_eventloop_lag_max_seconds', 'The largest event-loop delay since the last scrape, in seconds.', lagOf((w) => w.max));
  new Gauge<'space'>({
    name: 'nodejs_heap_space_size_used_bytes', help: 'Used size of each V8 heap space in bytes.', labelNames: ['space'], registers: [registry],
    collect() { for (const sp of getHeapSpaceStatistics()) this.set({ space: sp.space_name }, sp.space_used_size); },
  });
  if (options.gc) exportDurations(registry, 'nodejs_gc_duration_seconds', 'Garbage collection pauses by kind (minor, major, incremental, weakcb), in seconds.', gcObserver());
}
