import Database from 'better-sqlite3';
import { migrate } from './migrate.js';
import { sqliteStatsOps } from './sqlite-stats.js';
import { OciError } from '../oci/errors.js';
import { prepareEvictImage, prepareEvictImagePreview } from './sqlite-evict.js';
import { sqliteActionOps } from './sqlite-actions.js';
import { sqliteBrowseOps, type SqliteBrowseOps } from './sqlite-browse.js';
import type {
  AccessBatch, AccessLog, BlobIndex, MaintenanceIndex, ManifestIndex, RepositoryIndex, TagIndex,
} from './ports.js';
import type {
  BlobRow, PutManifestOptions, EvictableBlob, IndexStats, UpstreamIndexStats, ManifestRef, ManifestRow, TagRow,
} from './index-rows.js';
import { LINKED_LOCALLY, LIVE_MANIFESTS } from './index-sql.js';


/** A port's methods as better-sqlite3 runs them: the same arguments, the answer at once. */
type Sync<T> = { [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never };

/**
 * Every SQLite operation, synchronous (better-sqlite3): what each port asks, answered at
 * once. sqlite-index.ts wraps them as the async ports.
 */
export type SqliteOps = Sync<TagIndex> & Sync<ManifestIndex> & Sync<BlobIndex> & Sync<RepositoryIndex>
  & Sync<Omit<MaintenanceIndex, 'tryLease' | 'releaseLease'>> & Sync<AccessLog> & { close(): void }
  // Issue 12: the console's browsing queries (their names would clash with RepositoryIndex's).
  & { browse: SqliteBrowseOps };

/** Opens (and migrates) the index file: WAL mode, one writer, prepared statements. */
export function openSqliteOps(file: string): SqliteOps {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // NORMAL is durable across process crashes in WAL mode; only an OS crash can lose
  // the last transactions, and the blob files are renamed before their rows exist.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  try {
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }

  const q = {
    getTag: db.prepare<[string, string], { digest: string; fetched_at: number; checked_at: number }>(
      'SELECT digest, fetched_at, checked_at FROM tags WHERE repo = ? AND tag = ?'),
    putTag: db.prepare(`INSERT INTO tags (repo, tag, digest, fetched_at, checked_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (repo, tag) DO UPDATE SET digest = excluded.digest, fetched_at = excluded.fetched_at,
      checked_at = excluded.checked_at`),
    markTagChecked: db.prepare('UPDATE tags SET checked_at = ? WHERE repo = ? AND tag = ?'),
    deleteTag: db.prepare('DELETE FROM tags WHERE repo = ? AND tag = ?'),
    listTags: db.prepare<[string, string, number], { tag: string }>(
      'SELECT tag FROM tags WHERE repo = ? AND tag > ? ORDER BY tag LIMIT ?'),
    getManifest: db.prepare<[string], {
      digest: string; media_type: string; size: number; bytes: Buffer; subject: string | null; artifact_type: string | null;
      annotations: string | null;
    }>('SELECT digest, media_type, size, bytes, subject, artifact_type, annotations FROM manifests WHERE digest = ?'),
    hasRepoManifest: db.prepare('SELECT 1 FROM repo_manifests WHERE repo = ? AND digest = ?').pluck(),
    // A link without a media type (none since migration 0004 filled them) falls back to the row's.
    repoManifestType: db.prepare<[string, string], string>(`SELECT COALESCE(rm.media_type, m.media_type) FROM repo_manifests rm
      JOIN manifests m ON m.digest = rm.digest WHERE rm.repo = ? AND rm.digest = ?`).pluck(),
    mirroredManifestType: db.prepare<[string, string], string>(`SELECT COALESCE(rm.media_type, m.media_type)
      FROM repo_manifests rm JOIN repositories r ON r.name = rm.repo JOIN manifests m ON m.digest = rm.digest
      WHERE rm.digest = ? AND r.kind = 'mirror' AND r.upstream = ? LIMIT 1`).pluck(),
    hasMirroredBlob: db.prepare(`SELECT 1 FROM repo_blobs rb JOIN repositories r ON r.name = rb.repo
      WHERE rb.digest = ? AND r.kind = 'mirror' AND r.upstream = ? LIMIT 1`).pluck(),
    insertManifest: db.prepare(`INSERT OR IGNORE INTO manifests
      (digest, media_type, size, bytes, subject, artifact_type, annotations, created_at, last_access)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    linkManifest: db.prepare(`INSERT INTO repo_manifests (repo, digest, media_type) VALUES (?, ?, ?)
      ON CONFLICT (repo, digest) DO UPDATE SET media_type = excluded.media_type`),
    unlinkManifest: db.prepare('DELETE FROM repo_manifests WHERE repo = ? AND digest = ?'),
    deleteTagsOf: db.prepare('DELETE FROM tags WHERE repo = ? AND digest = ?'),
    referrers: db.prepare<[string, string], {
      digest: string; media_type: string; size: number; artifact_type: string | null; annotations: string | null;
    }>(`SELECT m.digest, COALESCE(r.media_type, m.media_type) AS media_type, m.size, m.artifact_type, m.annotations FROM manifests m
      JOIN repo_manifests r ON r.digest = m.digest WHERE r.repo = ? AND m.subject = ? ORDER BY m.digest`),
    insertRef: db.prepare('INSERT OR IGNORE INTO manifest_refs (parent, child, kind) VALUES (?, ?, ?)'),
    getBlob: db.prepare<[string], { digest: string; size: number; origin: 'upstream' | 'push' }>(
      'SELECT digest, size, origin FROM blobs WHERE digest = ?'),
    hasRepoBlob: db.prepare('SELECT 1 FROM repo_blobs WHERE repo = ? AND digest = ?').pluck(),
    // Writing a blob again counts as an access: GC's grace period then covers a re-push.
    insertBlob: db.prepare(`INSERT INTO blobs (digest, size, created_at, last_access, hits, origin) VALUES (?, ?, ?, ?, 0, ?)
      ON CONFLICT (digest) DO UPDATE SET origin = CASE WHEN excluded.origin = 'push' THEN 'push' ELSE blobs.origin END,
      last_access = MAX(blobs.last_access, excluded.last_access)`),
    linkBlob: db.prepare('INSERT OR IGNORE INTO repo_blobs (repo, digest) VALUES (?, ?)'),
    unlinkRepoBlob: db.prepare('DELETE FROM repo_blobs WHERE repo = ? AND digest = ?'),
    deleteBlob: db.prepare('DELETE FROM blobs WHERE digest = ?'),
    unlinkBlob: db.prepare('DELETE FROM repo_blobs WHERE digest = ?'),
    blobRepos: db.prepare<[string], string>('SELECT repo FROM repo_blobs WHERE digest = ? ORDER BY repo').pluck(),
    // Keyset paging in eviction order; the partial index blobs_evictable serves it.
    listEvictable: db.prepare<[number, number, string, number], EvictableBlob>(`SELECT digest, size,
      last_access AS lastAccess, hits FROM blobs b
      WHERE origin = 'upstream' AND (last_access, hits, digest) > (?, ?, ?) AND NOT ${LINKED_LOCALLY}
      ORDER BY last_access, hits, digest LIMIT ?`),
    deleteEvictable: db.prepare(`DELETE FROM blobs AS b WHERE digest = ? AND origin = 'upstream'
      AND last_access <= ? AND hits <= ? AND NOT ${LINKED_LOCALLY}`),
    deadManifests: db.prepare<[], string>(`WITH RECURSIVE ${LIVE_MANIFESTS}
      SELECT digest FROM manifests WHERE digest NOT IN (SELECT digest FROM live) ORDER BY digest`).pluck(),
    garbageBlobs: db.prepare<[{ before: number }], BlobRow>(`WITH RECURSIVE ${LIVE_MANIFESTS},
      used(digest) AS (SELECT r.child FROM manifest_refs r JOIN live ON r.parent = live.digest
        WHERE r.kind IN ('config', 'layer'))
      SELECT digest, size, origin FROM blobs
      WHERE origin = 'push' AND created_at < @before AND last_access < @before
        AND digest NOT IN (SELECT digest FROM used)
      ORDER BY digest`),
    listBlobs: db.prepare<[string, number], BlobRow>(
      'SELECT digest, size, origin FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?'),
    deleteRefsOf: db.prepare('DELETE FROM manifest_refs WHERE parent = ?'),
    deleteTagsTo: db.prepare('DELETE FROM tags WHERE digest = ?'),
    deleteManifest: db.prepare('DELETE FROM manifests WHERE digest = ?'),
    ensureRepo: db.prepare('INSERT OR IGNORE INTO repositories (name, kind, upstream, created_at) VALUES (?, ?, ?, ?)'),
    hasRepo: db.prepare('SELECT 1 FROM repositories WHERE name = ?').pluck(),
    localReposWithBlob: db.prepare<[string, number], string>(`SELECT rb.repo FROM repo_blobs rb
      JOIN repositories r ON r.name = rb.repo WHERE rb.digest = ? AND r.kind = 'local' ORDER BY rb.repo LIMIT ?`).pluck(),
    listRepos: db.prepare<[string, string, number], { name: string }>(
      'SELECT name FROM repositories WHERE kind = ? AND name > ? ORDER BY name LIMIT ?'),
    touchBlob: db.prepare('UPDATE blobs SET last_access = MAX(last_access, ?), hits = hits + ? WHERE digest = ?'),
    touchManifest: db.prepare('UPDATE manifests SET last_access = MAX(last_access, ?) WHERE digest = ?'),
    stats: db.prepare<[], IndexStats>(`SELECT
      (SELECT COUNT(*) FROM blobs) AS blobs,
      (SELECT COALESCE(SUM(size), 0) FROM blobs) AS blobBytes,
      (SELECT COUNT(*) FROM manifests) AS manifests,
      (SELECT COUNT(*) FROM tags) AS tags,
      (SELECT COUNT(*) FROM repositories) AS repositories`),
    // Admin stats only (a scan of the links): bytes over distinct blobs, so a blob linked to two repositories counts once.
    upstreamStats: db.prepare<[], UpstreamIndexStats>(`SELECT r.upstream AS upstream, COUNT(DISTINCT r.name) AS repositories,
      COUNT(rb.digest) AS blobLinks, COUNT(DISTINCT rb.digest) AS blobs,
      (SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN (
        SELECT rb2.digest FROM repo_blobs rb2 JOIN repositories r2 ON r2.name = rb2.repo WHERE r2.upstream = r.upstream)) AS blobBytes
      FROM repositories r LEFT JOIN repo_blobs rb ON rb.repo = r.name
      WHERE r.kind = 'mirror' AND r.upstream IS NOT NULL GROUP BY r.upstream ORDER BY r.upstream`),
  };

  const putManifest = db.transaction((repo: string, m: ManifestRow, refs: ManifestRef[], now: number, o: PutManifestOptions) => {
    if (o.requireRefs) {
      for (const ref of refs) {
        const present = ref.kind === 'manifest' ? q.hasRepoManifest.get(repo, ref.child) !== undefined
          : ref.kind === 'subject' || (q.hasRepoBlob.get(repo, ref.child) !== undefined && q.getBlob.get(ref.child) !== undefined);
        if (!present) throw new OciError('MANIFEST_BLOB_UNKNOWN', { detail: { digest: ref.child } });
      }
    }
    if (o.tag !== undefined) q.putTag.run(repo, o.tag, m.digest, now, now);
    q.insertManifest.run(m.digest, m.mediaType, m.size, m.bytes, m.subject, m.artifactType, m.annotations, now, now);
    q.linkManifest.run(repo, m.digest, m.mediaType);
    for (const ref of refs) q.insertRef.run(m.digest, ref.child, ref.kind);
  });
  const putBlob = db.transaction((repo: string, b: BlobRow, now: number) => {
    q.insertBlob.run(b.digest, b.size, now, now, b.origin);
    q.linkBlob.run(repo, b.digest);
  });
  const unlinkManifest = db.transaction((repo: string, digest: string) => {
    q.deleteTagsOf.run(repo, digest);
    return q.unlinkManifest.run(repo, digest).changes > 0;
  });
  const deleteBlob = db.transaction((digest: string) => {
    q.unlinkBlob.run(digest);
    q.deleteBlob.run(digest);
  });
  const deleteEvictable = db.transaction((blobs: readonly EvictableBlob[]) => {
    const deleted: string[] = [];
    // In key order, each B-tree page is visited once per batch (about 3x faster than LRU order).
    for (const b of [...blobs].sort((x, y) => (x.digest < y.digest ? -1 : x.digest > y.digest ? 1 : 0))) {
      if (q.deleteEvictable.run(b.digest, b.lastAccess, b.hits).changes === 0) continue;
      q.unlinkBlob.run(b.digest);
      deleted.push(b.digest);
    }
    return deleted;
  });
  const deleteManifestRows = (digests: Iterable<string>) => {
    for (const digest of digests) {
      q.deleteRefsOf.run(digest);
      q.deleteTagsTo.run(digest);
      q.deleteManifest.run(digest);
    }
  };
  const deleteBlobRows = (digests: Iterable<string>) => {
    for (const digest of digests) {
      q.unlinkBlob.run(digest);
      q.deleteBlob.run(digest);
    }
  };
  // Each re-reads what is unused inside its write transaction, so a manifest pushed (or a
  // blob used) since the caller listed its candidates is left alone.
  const deleteUnusedManifests = db.transaction((digests: readonly string[]): string[] => {
    const dead = new Set(q.deadManifests.all());
    const deleted = digests.filter((d) => dead.has(d));
    deleteManifestRows(deleted);
    return deleted;
  });
  const deleteUnusedPushedBlobs = db.transaction((digests: readonly string[], before: number): string[] => {
    const garbage = new Set(q.garbageBlobs.all({ before }).map((b) => b.digest));
    const deleted = digests.filter((d) => garbage.has(d));
    deleteBlobRows(deleted);
    return deleted;
  });
  const recordAccess = db.transaction((batch: AccessBatch) => {
    for (const b of batch.blobs) q.touchBlob.run(b.at, b.hits, b.digest);
    for (const m of batch.manifests) q.touchManifest.run(m.at, m.digest);
  });

  return {
    getTag(repo, tag): TagRow | undefined {
      const row = q.getTag.get(repo, tag);
      return row && { digest: row.digest, fetchedAt: row.fetched_at, checkedAt: row.checked_at };
    },
    putTag: (repo, tag, digest, now) => void q.putTag.run(repo, tag, digest, now, now),
    markTagChecked: (repo, tag, now) => void q.markTagChecked.run(now, repo, tag),
    deleteTag: (repo, tag) => void q.deleteTag.run(repo, tag),
    listTags: (repo, n, last = '') => q.listTags.all(repo, last, n).map((r) => r.tag),
    getManifest(digest): ManifestRow | undefined {
      const r = q.getManifest.get(digest);
      return r && {
        digest: r.digest, mediaType: r.media_type, size: r.size, bytes: r.bytes, subject: r.subject,
        artifactType: r.artifact_type, annotations: r.annotations,
      };
    },
    unlinkManifest: (repo, digest) => unlinkManifest(repo, digest),
    referrers: (repo, subject) => q.referrers.all(repo, subject).map((r) => ({
      digest: r.digest, mediaType: r.media_type, size: r.size, artifactType: r.artifact_type, annotations: r.annotations,
    })),
    hasRepoManifest: (repo, digest) => q.hasRepoManifest.get(repo, digest) !== undefined,
    repoManifestType: (repo, digest) => q.repoManifestType.get(repo, digest),
    mirroredManifestType: (upstream, digest) => q.mirroredManifestType.get(digest, upstream),
    putManifest: (repo, m, refs, now, options = {}) => putManifest.immediate(repo, m, refs, now, options),
    getBlob: (digest) => q.getBlob.get(digest),
    hasRepoBlob: (repo, digest) => q.hasRepoBlob.get(repo, digest) !== undefined,
    hasMirroredBlob: (upstream, digest) => q.hasMirroredBlob.get(digest, upstream) !== undefined,
    localRepositoriesWithBlob: (digest, limit) => q.localReposWithBlob.all(digest, limit),
    putBlob: (repo, b, now) => putBlob(repo, b, now),
    linkBlob: (repo, digest) => void q.linkBlob.run(repo, digest),
    unlinkBlob: (repo, digest) => q.unlinkRepoBlob.run(repo, digest).changes > 0,
    deleteBlob: (digest) => deleteBlob(digest),
    listEvictableBlobs: (limit, after) => q.listEvictable.all(
      after?.lastAccess ?? Number.MIN_SAFE_INTEGER, after?.hits ?? 0, after?.digest ?? '', limit),
    deleteEvictableBlobs: (blobs) => deleteEvictable.immediate(blobs),
    ensureRepository: (name, kind, upstream, now) => void q.ensureRepo.run(name, kind, upstream, now),
    hasRepository: (name) => q.hasRepo.get(name) !== undefined,
    listRepositories: (kind, n, last = '') => q.listRepos.all(kind, last, n).map((r) => r.name),
    listUnusedManifests: () => q.deadManifests.all(),
    listUnusedPushedBlobs: (before) => q.garbageBlobs.all({ before }),
    // IMMEDIATE: the write lock is held from the re-read to the delete, so nothing pushed
    // between deciding what is unused and deleting it is taken.
    deleteUnusedManifests: (digests) => (digests.length === 0 ? [] : deleteUnusedManifests.immediate(digests)),
    evictImage: prepareEvictImage(db),
    blobRepositories: (digest) => q.blobRepos.all(digest),
    previewEvictImage: prepareEvictImagePreview(db),
    ...sqliteActionOps(db),
    deleteUnusedPushedBlobs: (digests, before) => (digests.length === 0 ? [] : deleteUnusedPushedBlobs.immediate(digests, before)),
    listBlobs: (limit, after = '') => q.listBlobs.all(after, limit),
    recordAccess: (batch) => recordAccess(batch),
    stats: () => q.stats.get()!,
    upstreamStats: () => q.upstreamStats.all(),
    ...sqliteStatsOps(db),
    browse: sqliteBrowseOps(db),
    close: () => void db.close(),
  };
}
