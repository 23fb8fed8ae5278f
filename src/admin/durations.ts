import type { UpstreamRequestKind, UpstreamTiming } from '../upstream/timing.js';

/**
 * Latency histograms kept as plain counters, the way `Metrics` keeps its counters: an
 * observation on the hot path is a bucket search and three additions (~8 ns), where
 * prom-client's Histogram.observe builds a label hash string and a value object per call
 * (~410 ns measured, with or without a cached child — a cached manifest GET takes ~25 µs
 * in all). prometheus.ts hands the series to prom-client Histograms at scrape time.
 */

/** Upper bounds in seconds, from a memo hit (~0.1 ms) to a large blob (a minute). */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]);

/** The observations of one label set: per-bucket (not cumulative) counts, the last for +Inf. */
export class DurationSeries {
  readonly counts = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  constructor(readonly labels: Readonly<Record<string, string>>) {}

  observe(seconds: number): void {
    // Same rule as Prometheus (and prom-client): a value lands in the first bucket whose bound is >= it.
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

/** The series of one histogram, in the order they were first used; callers cache what they add. */
export class DurationSet {
  readonly series: DurationSeries[] = [];

  add(labels: Readonly<Record<string, string>>): DurationSeries {
    const s = new DurationSeries(labels);
    this.series.push(s);
    return s;
  }
}

const UPSTREAM_KINDS: readonly UpstreamRequestKind[] = ['manifest_get', 'manifest_head', 'blob_get', 'blob_head', 'tags', 'token'];

/** The latency histograms of one core: client requests (http/request-done.ts) and upstream requests. */
export interface Durations {
  /** mirror_http_request_duration_seconds, labels route, method, status. */
  readonly requests: DurationSet;
  /** mirror_upstream_request_duration_seconds, labels upstream, kind. */
  readonly upstream: DurationSet;
  /** The timing callback of one upstream's client: its six series exist (at 0) from the start. */
  upstreamTiming(name: string): UpstreamTiming;
}

export function createDurations(): Durations {
  const requests = new DurationSet();
  const upstream = new DurationSet();
  return {
    requests,
    upstream,
    upstreamTiming(name) {
      const byKind = Object.fromEntries(UPSTREAM_KINDS.map((kind) => [kind, upstream.add({ upstream: name, kind })])) as Record<UpstreamRequestKind, DurationSeries>;
      return (kind, seconds) => byKind[kind].observe(seconds);
    },
  };
}
