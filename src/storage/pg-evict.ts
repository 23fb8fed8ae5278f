import type pg from 'pg';
import type { MaintenanceIndex } from './ports.js';
import type { EvictedImage } from './index-rows.js';
import { notifySql } from './pg-tag-notify.js';
import { changes, exists, inTransaction, lockForDelete, row, rows } from './pg-pool.js';

/** evictImage, its preview and the console's manifestTags for the PostgreSQL index (as sqlite-evict.ts, sqlite-actions.ts). */
export type PgEvictPorts = Pick<MaintenanceIndex, 'evictImage' | 'previewEvictImage' | 'manifestTags'>;

/** Thrown inside the preview's transaction to roll it back, carrying what it would have removed. */
class PreviewRollback extends Error {
  constructor(readonly result: EvictedImage | undefined) {
    super('preview');
  }
}

/** The eviction ports over the pool. */
export function pgEvictPorts(pool: pg.Pool): PgEvictPorts {
  return {
    evictImage: (repo, root) => inTransaction(pool, async (c) => {
      await lockForDelete(c);
      const evicted = await evictSteps(c, repo, root);
      // Delivered at COMMIT: every replica forgets the repository's memoized tags.
      if (evicted) await c.query(`SELECT ${notifySql('$1', null)}`, [repo]);
      return evicted;
    }),
    // The very statements of evictImage in a transaction rolled back: exactly what it would remove now.
    async previewEvictImage(repo, root) {
      try {
        await inTransaction(pool, async (c) => { throw new PreviewRollback(await evictSteps(c, repo, root)); });
      } catch (err) {
        if (err instanceof PreviewRollback) return err.result;
        throw err;
      }
      return undefined;
    },
    // One REPEATABLE READ transaction: the link and its tags are seen at the same moment.
    manifestTags: (repo, digest, limit) => inTransaction(pool, async (c) => {
      await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      if (!await exists(c, 'SELECT 1 FROM repo_manifests WHERE repo = $1 AND digest = $2', [repo, digest])) return undefined;
      return (await rows<{ tag: string }>(c, 'SELECT tag FROM tags WHERE repo = $1 AND digest = $2 ORDER BY tag LIMIT $3',
        [repo, digest, Math.max(0, limit)])).map((r) => r.tag);
    }),
  };
}

/**
 * One eviction inside the caller's transaction: unlinks the image's manifests (the root,
 * and the platform manifests of an index nothing else in use names) with their tags,
 * deletes the manifest rows nothing uses, and the rows of mirrored blobs they referenced
 * that no other repository links and no manifest in use references. Pushed blobs stay.
 */
async function evictSteps(c: pg.PoolClient, repo: string, root: string): Promise<EvictedImage | undefined> {
  const linked = (d: string) => exists(c, 'SELECT 1 FROM repo_manifests WHERE repo = $1 AND digest = $2', [repo, d]);
  const unlink = async (d: string) => {
    await c.query('DELETE FROM repo_manifests WHERE repo = $1 AND digest = $2', [repo, d]);
    await c.query('DELETE FROM tags WHERE repo = $1 AND digest = $2', [repo, d]);
  };
  if (!await linked(root)) return undefined;
  await unlink(root);
  const manifests = [root];
  const children = await rows<{ child: string }>(c, `SELECT child FROM manifest_refs WHERE parent = $1 AND kind = 'manifest'`, [root]);
  for (const { child } of children) {
    if (!await linked(child)) continue;
    // Another index still linked somewhere (not being evicted: unlinked first) names it.
    if (await exists(c, `SELECT 1 FROM manifest_refs r JOIN repo_manifests rm ON rm.digest = r.parent
      WHERE r.child = $1 AND r.kind = 'manifest' LIMIT 1`, [child])) continue;
    await unlink(child);
    manifests.push(child);
  }
  const candidates = new Set<string>();
  for (const m of manifests) {
    for (const r of await rows<{ child: string }>(c, `SELECT child FROM manifest_refs WHERE parent = $1 AND kind IN ('config', 'layer')`, [m])) {
      candidates.add(r.child);
    }
  }
  for (const m of manifests) {
    const gone = await changes(c, `DELETE FROM manifests AS m WHERE digest = $1
      AND NOT EXISTS (SELECT 1 FROM repo_manifests WHERE digest = m.digest)
      AND NOT EXISTS (SELECT 1 FROM manifest_refs r JOIN repo_manifests rm ON rm.digest = r.parent WHERE r.child = m.digest)`, [m]);
    if (gone > 0) await c.query('DELETE FROM manifest_refs WHERE parent = $1', [m]);
  }
  const blobs: Array<{ digest: string; size: number }> = [];
  for (const digest of candidates) {
    // Still referenced by a manifest in use in this repository: its link stays.
    if (await exists(c, `SELECT 1 FROM manifest_refs r JOIN repo_manifests rm ON rm.digest = r.parent
      WHERE r.child = $1 AND rm.repo = $2 LIMIT 1`, [digest, repo])) continue;
    await c.query('DELETE FROM repo_blobs WHERE digest = $1 AND repo = $2', [digest, repo]);
    const deleted = await row<{ size: number }>(c, `DELETE FROM blobs AS b WHERE digest = $1 AND origin = 'upstream'
      AND NOT EXISTS (SELECT 1 FROM repo_blobs WHERE digest = b.digest)
      AND NOT EXISTS (SELECT 1 FROM manifest_refs r JOIN repo_manifests rm ON rm.digest = r.parent WHERE r.child = b.digest)
      RETURNING size`, [digest]);
    if (deleted) blobs.push({ digest, size: deleted.size });
  }
  return { manifests, blobs };
}
