import type { Database } from 'better-sqlite3';
import type { CacheContents, RepoUsage, StatsDelta } from './index-rows.js';

/**
 * The SQLite side of issue 11's persisted stats (migration 0005): hourly counter buckets
 * written in batches, pulls per repository, and the admin-only scans of what the cache
 * holds. Synchronous, as sqlite-ops.ts; sqlite-index.ts wraps them as the async port.
 */
export interface SqliteStatsOps {
  addStats(delta: StatsDelta): void;
  sumStats(since?: number): Record<string, number>;
  statsSeries(since: number): Array<{ hour: number; counters: Record<string, number> }>;
  cacheContents(top: number): CacheContents;
}

/**
 * Hourly buckets are kept this long (five weeks: the console's week chart and a month back);
 * older ones are summed into one bucket at hour 0 that only all-time totals read.
 */
export const STATS_HOURLY_KEEP_MS = 35 * 24 * 3_600_000;

/** Prepares the stats statements on an open, migrated index (0005 and later). */
export function sqliteStatsOps(db: Database): SqliteStatsOps {
  const q = {
    addCounter: db.prepare(`INSERT INTO stats_hourly (hour, name, value) VALUES (?, ?, ?)
      ON CONFLICT (hour, name) DO UPDATE SET value = value + excluded.value`),
    foldOld: db.prepare(`INSERT INTO stats_hourly (hour, name, value)
      SELECT 0, name, SUM(value) FROM stats_hourly WHERE hour > 0 AND hour < ? GROUP BY name
      ON CONFLICT (hour, name) DO UPDATE SET value = value + excluded.value`),
    dropOld: db.prepare('DELETE FROM stats_hourly WHERE hour > 0 AND hour < ?'),
    addPulls: db.prepare(`INSERT INTO stats_repo_pulls (repo, pulls, last_pull) VALUES (?, ?, ?)
      ON CONFLICT (repo) DO UPDATE SET pulls = pulls + excluded.pulls, last_pull = MAX(last_pull, excluded.last_pull)`),
    sum: db.prepare<[number], { name: string; total: number }>(
      'SELECT name, SUM(value) AS total FROM stats_hourly WHERE hour >= ? GROUP BY name ORDER BY name'),
    // Bounded by the kept window (five weeks of hours times the counter names); bucket 0 (folded) is never listed.
    series: db.prepare<[number], { hour: number; name: string; value: number }>(
      'SELECT hour, name, value FROM stats_hourly WHERE hour >= ? AND hour > 0 ORDER BY hour, name'),
    origins: db.prepare<[], { mirrored: number; pushed: number }>(`SELECT
      COALESCE(SUM(CASE WHEN origin = 'upstream' THEN size END), 0) AS mirrored,
      COALESCE(SUM(CASE WHEN origin = 'push' THEN size END), 0) AS pushed FROM blobs`),
    manifestBytes: db.prepare<[], number>('SELECT COALESCE(SUM(size), 0) FROM manifests').pluck(),
    // Both tables have an index on last_access: two index lookups, no scan.
    oldest: db.prepare<[], number | null>(`SELECT MIN(t) FROM (SELECT MIN(last_access) AS t FROM blobs
      UNION ALL SELECT MIN(last_access) FROM manifests)`).pluck(),
    // A scan of the links: distinct blob bytes per repository (a blob in two repositories counts for both).
    topByBytes: db.prepare<[number], RepoUsage>(`SELECT rb.repo AS repo, SUM(b.size) AS bytes,
      COALESCE((SELECT pulls FROM stats_repo_pulls p WHERE p.repo = rb.repo), 0) AS pulls
      FROM repo_blobs rb JOIN blobs b ON b.digest = rb.digest GROUP BY rb.repo ORDER BY bytes DESC, repo LIMIT ?`),
    topByPulls: db.prepare<[number], RepoUsage>(`SELECT p.repo AS repo, p.pulls AS pulls,
      COALESCE((SELECT SUM(b.size) FROM repo_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE rb.repo = p.repo), 0) AS bytes
      FROM stats_repo_pulls p ORDER BY pulls DESC, repo LIMIT ?`),
  };
  const addStats = db.transaction((d: StatsDelta) => {
    // Keeps the table bounded: hours older than the kept window fold into bucket 0, so all-time
    // sums stay exact while per-hour detail ends. Both statements seek the primary key: when
    // nothing is old (every flush but the first of an hour), they cost two index lookups.
    const cutoff = d.hour - STATS_HOURLY_KEEP_MS;
    if (cutoff > 0) { q.foldOld.run(cutoff); q.dropOld.run(cutoff); }
    for (const [name, v] of Object.entries(d.counters)) if (v !== 0) q.addCounter.run(d.hour, name, v);
    for (const p of d.repoPulls) q.addPulls.run(p.repo, p.pulls, p.at);
  });
  return {
    addStats: (d) => addStats.immediate(d),
    sumStats: (since = Number.MIN_SAFE_INTEGER) => Object.fromEntries(q.sum.all(since).map((r) => [r.name, r.total])),
    statsSeries: (since) => {
      const out: Array<{ hour: number; counters: Record<string, number> }> = [];
      for (const r of q.series.all(since)) {
        let last = out[out.length - 1];
        if (last?.hour !== r.hour) out.push(last = { hour: r.hour, counters: {} });
        last.counters[r.name] = r.value;
      }
      return out;
    },
    cacheContents: (top) => ({
      bytesByOrigin: q.origins.get()!,
      manifestBytes: q.manifestBytes.get()!,
      oldestAccess: q.oldest.get() ?? null,
      topByBytes: q.topByBytes.all(top),
      topByPulls: q.topByPulls.all(top),
    }),
  };
}
