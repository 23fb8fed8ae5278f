import type { Metric, MetricValueWithName, Registry } from 'prom-client';
import { DURATION_BUCKETS, type DurationSet } from './durations.js';

/**
 * A histogram family whose series are the DurationSet's, read at scrape time. It is
 * registered as a metric object of prom-client's public shape (a `get()` answering name,
 * help, type and values, as its own metric classes do), not as a Histogram: prom-client's
 * Histogram has no way to set counts but observe(), which costs ~50× the DurationSeries'.
 * The lines are the histogram exposition format: cumulative `_bucket{le}` series ending
 * in +Inf, then `_sum` and `_count`; prometheus.test.ts checks them against prom-client's
 * own observe().
 */
export function exportDurations(registry: Registry, name: string, help: string, set: DurationSet): void {
  const metric = {
    name, help, type: 'histogram' as const, aggregator: 'sum' as const,
    async get() {
      const values: Array<MetricValueWithName<string>> = [];
      for (const s of set.series) {
        let cumulative = 0;
        DURATION_BUCKETS.forEach((bound, i) => {
          cumulative += s.counts[i]!;
          values.push({ metricName: `${name}_bucket`, labels: { le: bound, ...s.labels }, value: cumulative });
        });
        values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: s.count });
        values.push({ metricName: `${name}_sum`, labels: s.labels, value: s.sum });
        values.push({ metricName: `${name}_count`, labels: s.labels, value: s.count });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
  registry.registerMetric(metric as unknown as Metric<string>);
}
