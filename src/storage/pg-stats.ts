import type pg from 'pg';
import type { MaintenanceIndex } from './ports.js';
import type { RepoUsage } from './index-rows.js';
import { inTransaction, row, rows } from './pg-pool.js';
import { STATS_HOURLY_KEEP_MS } from './sqlite-stats.js';

/** Issue 11's persisted stats for the PostgreSQL index (as sqlite-stats.ts). */
export type PgStatsPorts = Pick<MaintenanceIndex, 'addStats' | 'sumStats' | 'statsSeries' | 'cacheContents'>;

/** The stats ports over the pool. */
export function pgStatsPorts(pool: pg.Pool): PgStatsPorts {
  return {
    addStats: (d) => inTransaction(pool, async (c) => {
      // Hours older than the kept window fold into bucket 0 (all-time sums stay exact).
      const cutoff = d.hour - STATS_HOURLY_KEEP_MS;
      if (cutoff > 0) {
        await c.query(`INSERT INTO stats_hourly (hour, name, value)
          SELECT 0, name, SUM(value) FROM stats_hourly WHERE hour > 0 AND hour < $1 GROUP BY name
          ON CONFLICT (hour, name) DO UPDATE SET value = stats_hourly.value + excluded.value`, [cutoff]);
        await c.query('DELETE FROM stats_hourly WHERE hour > 0 AND hour < $1', [cutoff]);
      }
      const counters = Object.entries(d.counters).filter(([, v]) => v !== 0);
      if (counters.length > 0) {
        await c.query(`INSERT INTO stats_hourly (hour, name, value) SELECT $1, name, value FROM unnest($2::text[], $3::bigint[]) AS u(name, value)
          ON CONFLICT (hour, name) DO UPDATE SET value = stats_hourly.value + excluded.value`,
        [d.hour, counters.map(([n]) => n), counters.map(([, v]) => v)]);
      }
      for (const p of d.repoPulls) {
        await c.query(`INSERT INTO stats_repo_pulls (repo, pulls, last_pull) VALUES ($1, $2, $3)
          ON CONFLICT (repo) DO UPDATE SET pulls = stats_repo_pulls.pulls + excluded.pulls,
          last_pull = GREATEST(stats_repo_pulls.last_pull, excluded.last_pull)`, [p.repo, p.pulls, p.at]);
      }
    }),
    sumStats: async (since = Number.MIN_SAFE_INTEGER) => Object.fromEntries((await rows<{ name: string; total: number }>(pool,
      'SELECT name, SUM(value) AS total FROM stats_hourly WHERE hour >= $1 GROUP BY name ORDER BY name', [since]))
      .map((r) => [r.name, r.total])),
    statsSeries: async (since) => {
      const out: Array<{ hour: number; counters: Record<string, number> }> = [];
      for (const r of await rows<{ hour: number; name: string; value: number }>(pool,
        'SELECT hour, name, value FROM stats_hourly WHERE hour >= $1 AND hour > 0 ORDER BY hour, name', [since])) {
        let last = out[out.length - 1];
        if (last?.hour !== r.hour) out.push(last = { hour: r.hour, counters: {} });
        last.counters[r.name] = r.value;
      }
      return out;
    },
    cacheContents: async (top) => ({
      bytesByOrigin: (await row<{ mirrored: number; pushed: number }>(pool, `SELECT
        COALESCE(SUM(CASE WHEN origin = 'upstream' THEN size END), 0) AS mirrored,
        COALESCE(SUM(CASE WHEN origin = 'push' THEN size END), 0) AS pushed FROM blobs`))!,
      manifestBytes: (await row<{ n: number }>(pool, 'SELECT COALESCE(SUM(size), 0) AS n FROM manifests'))!.n,
      oldestAccess: (await row<{ t: number | null }>(pool, `SELECT LEAST((SELECT MIN(last_access) FROM blobs),
        (SELECT MIN(last_access) FROM manifests)) AS t`))!.t ?? null,
      topByBytes: await rows<RepoUsage>(pool, `SELECT rb.repo AS repo, SUM(b.size) AS bytes,
        COALESCE((SELECT pulls FROM stats_repo_pulls p WHERE p.repo = rb.repo), 0) AS pulls
        FROM repo_blobs rb JOIN blobs b ON b.digest = rb.digest GROUP BY rb.repo ORDER BY bytes DESC, repo LIMIT $1`, [top]),
      topByPulls: await rows<RepoUsage>(pool, `SELECT p.repo AS repo, p.pulls AS pulls,
        COALESCE((SELECT SUM(b.size) FROM repo_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE rb.repo = p.repo), 0) AS bytes
        FROM stats_repo_pulls p ORDER BY pulls DESC, repo LIMIT $1`, [top]),
    }),
  };
}
