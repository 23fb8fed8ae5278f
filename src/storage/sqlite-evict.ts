import type Database from 'better-sqlite3';
import type { EvictedImage } from './index-rows.js';

/**
 * evictImage for the SQLite index (ports.ts MaintenanceIndex.evictImage), in one IMMEDIATE
 * transaction: unlinks the image's manifests (the root, and the platform manifests of an
 * index that nothing else still in use names) from the repository with their tags, deletes
 * the manifest rows nothing uses any more, and the rows of mirrored blobs they referenced
 * that no other repository links and no manifest in use references. Pushed blobs stay (gc's).
 */
export function prepareEvictImage(db: Database.Database): (repo: string, root: string) => EvictedImage | undefined {
  const evict = db.transaction(evictSteps(db));
  return (repo, root) => evict.immediate(repo, root);
}

/** Thrown inside the preview's transaction to roll it back, carrying what it would have removed. */
class PreviewRollback extends Error {
  constructor(readonly result: EvictedImage | undefined) {
    super('preview');
  }
}

/**
 * previewEvictImage (issue 12's console): the very statements of evictImage, run in a
 * transaction that is then rolled back, so that the confirmation page lists exactly what
 * the eviction would remove at that moment, and nothing changes.
 */
export function prepareEvictImagePreview(db: Database.Database): (repo: string, root: string) => EvictedImage | undefined {
  const steps = evictSteps(db);
  const preview = db.transaction((repo: string, root: string) => {
    throw new PreviewRollback(steps(repo, root));
  });
  return (repo, root) => {
    try {
      preview.immediate(repo, root);
    } catch (err) {
      if (err instanceof PreviewRollback) return err.result;
      throw err;
    }
    return undefined;
  };
}

/** The statements of one eviction, to be run inside a transaction. */
function evictSteps(db: Database.Database): (repo: string, root: string) => EvictedImage | undefined {
  const linked = db.prepare<[string, string], number>('SELECT 1 FROM repo_manifests WHERE repo = ? AND digest = ?').pluck();
  const children = db.prepare<[string], string>(`SELECT child FROM manifest_refs WHERE parent = ? AND kind = 'manifest'`).pluck();
  const blobRefs = db.prepare<[string], string>(`SELECT child FROM manifest_refs WHERE parent = ? AND kind IN ('config', 'layer')`).pluck();
  // Another index still linked somewhere (not being evicted: unlinked first) names it.
  const namedElsewhere = db.prepare<[string], number>(`SELECT 1 FROM manifest_refs r JOIN repo_manifests rm ON rm.digest = r.parent
    WHERE r.child = ? AND r.kind = 'manifest' LIMIT 1`).pluck();
  const deleteTags = db.prepare('DELETE FROM tags WHERE repo = ? AND digest = ?');
  const unlink = db.prepare('DELETE FROM repo_manifests WHERE repo = ? AND digest = ?');
  // Linked nowhere and no linked index names it: the row goes, with its references.
  const deleteUnusedManifest = db.prepare(`DELETE FROM manifests AS m WHERE digest = ?
    AND NOT EXISTS (SELECT 1 FROM repo_manifests WHERE digest = m.digest)
    AND NOT EXISTS (SELECT 1 FROM manifest_refs r JOIN repo_manifests rm ON rm.digest = r.parent WHERE r.child = m.digest)`);
  const deleteRefs = db.prepare('DELETE FROM manifest_refs WHERE parent = ?');
  // Still referenced by a manifest in use in this repository: its link stays.
  const usedInRepo = db.prepare<[string, string], number>(`SELECT 1 FROM manifest_refs r JOIN repo_manifests rm ON rm.digest = r.parent
    WHERE r.child = ? AND rm.repo = ? LIMIT 1`).pluck();
  const unlinkBlob = db.prepare('DELETE FROM repo_blobs WHERE digest = ? AND repo = ?');
  const deleteBlob = db.prepare<[string], { size: number }>(`DELETE FROM blobs AS b WHERE digest = ? AND origin = 'upstream'
    AND NOT EXISTS (SELECT 1 FROM repo_blobs WHERE digest = b.digest)
    AND NOT EXISTS (SELECT 1 FROM manifest_refs r JOIN repo_manifests rm ON rm.digest = r.parent WHERE r.child = b.digest)
    RETURNING size`);

  return (repo: string, root: string): EvictedImage | undefined => {
    if (linked.get(repo, root) === undefined) return undefined;
    unlink.run(repo, root);
    deleteTags.run(repo, root);
    const manifests = [root];
    for (const child of children.all(root)) {
      if (linked.get(repo, child) === undefined || namedElsewhere.get(child) !== undefined) continue;
      unlink.run(repo, child);
      deleteTags.run(repo, child);
      manifests.push(child);
    }
    const candidates = new Set(manifests.flatMap((m) => blobRefs.all(m)));
    for (const m of manifests) {
      if (deleteUnusedManifest.run(m).changes > 0) deleteRefs.run(m);
    }
    const blobs: Array<{ digest: string; size: number }> = [];
    for (const digest of candidates) {
      if (usedInRepo.get(digest, repo) !== undefined) continue;
      unlinkBlob.run(digest, repo);
      const row = deleteBlob.get(digest);
      if (row) blobs.push({ digest, size: row.size });
    }
    return { manifests, blobs };
  };
}
