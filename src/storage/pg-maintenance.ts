import type pg from 'pg';
import type { MaintenanceIndex } from './ports.js';
import type { BlobRow, EvictableBlob, IndexStats, UpstreamIndexStats } from './index-rows.js';
import { LINKED_LOCALLY, LIVE_MANIFESTS } from './index-sql.js';
import { changes, inTransaction, lockForDelete, row, rows } from './pg-pool.js';

/**
 * GC's and prune's queries for the PostgreSQL index (ports.ts MaintenanceIndex, with the
 * semantics of sqlite-ops.ts). The conditional deletes re-read what is eligible inside a
 * transaction holding lockForDelete() (pg-pool.ts), as SQLite's IMMEDIATE transactions do.
 */
export type PgGcPorts = Pick<MaintenanceIndex, 'stats' | 'upstreamStats' | 'listEvictableBlobs' | 'deleteEvictableBlobs'
  | 'listUnusedManifests' | 'listUnusedPushedBlobs' | 'deleteUnusedManifests' | 'deleteUnusedPushedBlobs' | 'listBlobs' | 'blobRepositories'>;

const DEAD_MANIFESTS = `WITH RECURSIVE ${LIVE_MANIFESTS}
  SELECT digest FROM manifests WHERE digest NOT IN (SELECT digest FROM live) ORDER BY digest`;

const GARBAGE_BLOBS = `WITH RECURSIVE ${LIVE_MANIFESTS},
  used(digest) AS (SELECT r.child FROM manifest_refs r JOIN live ON r.parent = live.digest WHERE r.kind IN ('config', 'layer'))
  SELECT digest, size, origin FROM blobs
  WHERE origin = 'push' AND created_at < $1 AND last_access < $1 AND digest NOT IN (SELECT digest FROM used)
  ORDER BY digest`;

/** The GC and prune ports over the pool. */
export function pgGcPorts(pool: pg.Pool): PgGcPorts {
  return {
    stats: async () => (await row<IndexStats>(pool, `SELECT
      (SELECT COUNT(*) FROM blobs) AS blobs,
      (SELECT COALESCE(SUM(size), 0) FROM blobs) AS "blobBytes",
      (SELECT COUNT(*) FROM manifests) AS manifests,
      (SELECT COUNT(*) FROM tags) AS tags,
      (SELECT COUNT(*) FROM repositories) AS repositories`))!,
    // Admin stats only (a scan of the links): bytes over distinct blobs.
    upstreamStats: () => rows<UpstreamIndexStats>(pool, `SELECT r.upstream AS upstream, COUNT(DISTINCT r.name) AS repositories,
      COUNT(rb.digest) AS "blobLinks", COUNT(DISTINCT rb.digest) AS blobs,
      (SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN (
        SELECT rb2.digest FROM repo_blobs rb2 JOIN repositories r2 ON r2.name = rb2.repo WHERE r2.upstream = r.upstream)) AS "blobBytes"
      FROM repositories r LEFT JOIN repo_blobs rb ON rb.repo = r.name
      WHERE r.kind = 'mirror' AND r.upstream IS NOT NULL GROUP BY r.upstream ORDER BY r.upstream`),
    // Keyset paging in eviction order; the partial index blobs_evictable serves it.
    listEvictableBlobs: (limit, after) => rows<EvictableBlob>(pool, `SELECT digest, size, last_access AS "lastAccess", hits FROM blobs b
      WHERE origin = 'upstream' AND (last_access, hits, digest) > ($1, $2, $3) AND NOT ${LINKED_LOCALLY}
      ORDER BY last_access, hits, digest LIMIT $4`,
    [after?.lastAccess ?? Number.MIN_SAFE_INTEGER, after?.hits ?? 0, after?.digest ?? '', limit]),
    deleteEvictableBlobs: (blobs) => (blobs.length === 0 ? Promise.resolve([]) : inTransaction(pool, async (c) => {
      await lockForDelete(c);
      const deleted: string[] = [];
      for (const b of [...blobs].sort((x, y) => (x.digest < y.digest ? -1 : x.digest > y.digest ? 1 : 0))) {
        const n = await changes(c, `DELETE FROM blobs AS b WHERE digest = $1 AND origin = 'upstream'
          AND last_access <= $2 AND hits <= $3 AND NOT ${LINKED_LOCALLY}`, [b.digest, b.lastAccess, b.hits]);
        if (n === 0) continue;
        await c.query('DELETE FROM repo_blobs WHERE digest = $1', [b.digest]);
        deleted.push(b.digest);
      }
      return deleted;
    })),
    listUnusedManifests: async () => (await rows<{ digest: string }>(pool, DEAD_MANIFESTS)).map((r) => r.digest),
    listUnusedPushedBlobs: (before) => rows<BlobRow>(pool, GARBAGE_BLOBS, [before]),
    // Each re-reads what is unused under the lock, so a manifest pushed (or a blob used)
    // since the caller listed its candidates is left alone.
    deleteUnusedManifests: (digests) => (digests.length === 0 ? Promise.resolve([]) : inTransaction(pool, async (c) => {
      await lockForDelete(c);
      const dead = new Set((await rows<{ digest: string }>(c, DEAD_MANIFESTS)).map((r) => r.digest));
      const deleted = digests.filter((d) => dead.has(d));
      if (deleted.length > 0) {
        await c.query('DELETE FROM manifest_refs WHERE parent = ANY($1::text[])', [deleted]);
        await c.query('DELETE FROM tags WHERE digest = ANY($1::text[])', [deleted]);
        await c.query('DELETE FROM manifests WHERE digest = ANY($1::text[])', [deleted]);
      }
      return deleted;
    })),
    deleteUnusedPushedBlobs: (digests, before) => (digests.length === 0 ? Promise.resolve([]) : inTransaction(pool, async (c) => {
      await lockForDelete(c);
      const garbage = new Set((await rows<BlobRow>(c, GARBAGE_BLOBS, [before])).map((b) => b.digest));
      const deleted = digests.filter((d) => garbage.has(d));
      if (deleted.length > 0) {
        await c.query('DELETE FROM repo_blobs WHERE digest = ANY($1::text[])', [deleted]);
        await c.query('DELETE FROM blobs WHERE digest = ANY($1::text[])', [deleted]);
      }
      return deleted;
    })),
    listBlobs: (limit, after = '') => rows<BlobRow>(pool,
      'SELECT digest, size, origin FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2', [after, limit]),
    blobRepositories: async (digest) => (await rows<{ repo: string }>(pool,
      'SELECT repo FROM repo_blobs WHERE digest = $1 ORDER BY repo', [digest])).map((r) => r.repo),
  };
}
