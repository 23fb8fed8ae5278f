import type { EventBus } from '../events/event-bus.js';
import type { MaintenanceIndex } from '../storage/ports.js';
import type { Metrics } from './metrics.js';

/** Length of one persisted stats bucket. */
export const HOUR_MS = 3_600_000;

/**
 * The persisted counters as flat names (the stats_hourly rows): cache results by kind
 * ("manifest.hit", "blob.miss"), blob bytes ("bytes.served", "bytes.upstream") and per
 * upstream ("upstream.<name>.requests" | ".errors" | ".bytes").
 */
export function counterValues(m: Metrics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const kind of ['manifest', 'blob'] as const) {
    for (const [status, v] of Object.entries(m.cache[kind])) out[`${kind}.${status.toLowerCase()}`] = v;
  }
  out['bytes.served'] = m.bytesServed;
  out['bytes.upstream'] = m.bytesFromUpstream;
  for (const [name, u] of Object.entries(m.byUpstream)) {
    out[`upstream.${name}.requests`] = Object.values(u.requests).reduce((a, b) => a + b, 0);
    out[`upstream.${name}.errors`] = u.errors;
    out[`upstream.${name}.bytes`] = u.bytes;
  }
  return out;
}

/**
 * Writes what the in-memory Metrics counted since the last flush into the index's hourly
 * buckets, so that stats survive a restart (issue 11). Requests pay nothing for it: the
 * counters are incremented in memory anyway, and a flush writes the difference to the
 * previous snapshot in one transaction. The only per-request work added is a Map update
 * per manifest pull, for the pulls per repository.
 */
export class StatsRecorder {
  private written: Record<string, number> = {};
  private pulls = new Map<string, { pulls: number; at: number }>();
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly deps: { metrics: Metrics; index: Pick<MaintenanceIndex, 'addStats'>; now: () => number; events: EventBus },
  ) {
    deps.events.on('manifest.pulled', (e) => {
      const p = this.pulls.get(e.repository);
      if (p) {
        p.pulls++;
        if (e.time > p.at) p.at = e.time;
      } else this.pulls.set(e.repository, { pulls: 1, at: e.time });
    });
  }

  /**
   * Adds the counters since the last flush to the current hour's bucket. One at a time;
   * on failure nothing is marked written, so the next flush carries it.
   */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => { this.flushing = undefined; });
    return this.flushing;
  }

  private async write(): Promise<void> {
    const values = counterValues(this.deps.metrics);
    const counters: Record<string, number> = {};
    let any = false;
    for (const [name, v] of Object.entries(values)) {
      const d = v - (this.written[name] ?? 0);
      if (d !== 0) { counters[name] = d; any = true; }
    }
    const pulls = this.pulls;
    if (!any && pulls.size === 0) return;
    this.pulls = new Map();
    const now = this.deps.now();
    try {
      await this.deps.index.addStats({
        hour: now - (now % HOUR_MS), counters,
        repoPulls: Array.from(pulls, ([repo, p]) => ({ repo, pulls: p.pulls, at: p.at })),
      });
    } catch (err) {
      // Merge back what was taken, with anything counted meanwhile.
      for (const [repo, p] of pulls) {
        const q = this.pulls.get(repo);
        if (q) { q.pulls += p.pulls; q.at = Math.max(q.at, p.at); } else this.pulls.set(repo, p);
      }
      throw err;
    }
    this.written = values;
  }
}
