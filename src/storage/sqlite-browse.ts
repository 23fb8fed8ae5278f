import type { Database } from 'better-sqlite3';
import type { RepositoryQuery, RepositorySummary, TagDetail, UntaggedManifest } from './browse-rows.js';
import type { ManifestRow } from './index-rows.js';

/**
 * The console's browsing queries (ports.ts BrowseIndex) for the SQLite index: synchronous,
 * as sqlite-ops.ts; sqlite-index.ts wraps them as the async port. Every list is a keyset
 * walk of a primary key (repositories.name, tags (repo, tag), repo_manifests (repo, digest))
 * with a LIMIT, so a page costs its rows and their per-row lookups, never a table scan
 * beyond what a search's LIKE must read.
 */
export interface SqliteBrowseOps {
  listRepositories(query: RepositoryQuery): RepositorySummary[];
  getRepository(name: string): RepositorySummary | undefined;
  listTagDetails(repo: string, after: string | undefined, limit: number): TagDetail[];
  listUntaggedManifests(repo: string, after: string | undefined, limit: number): UntaggedManifest[];
  repoManifests(repo: string, digests: readonly string[]): ManifestRow[];
}

/** A LIKE pattern matching `text` literally anywhere (backslash is the escape character). */
export function likeSubstring(text: string): string {
  return `%${text.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
}

// Per repository: distinct blob bytes (repo_blobs' key makes each blob count once), tag count
// (a range of the tags key) and pulls (a key lookup).
const SUMMARY = `SELECT r.name AS name, r.kind AS kind, r.upstream AS upstream, r.created_at AS createdAt,
  COALESCE((SELECT SUM(b.size) FROM repo_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE rb.repo = r.name), 0) AS bytes,
  (SELECT COUNT(*) FROM tags t WHERE t.repo = r.name) AS tags,
  p.last_pull AS lastPull, COALESCE(p.pulls, 0) AS pulls
  FROM repositories r LEFT JOIN stats_repo_pulls p ON p.repo = r.name`;

/** Prepares the browsing statements on an open, migrated index (0005 and later). */
export function sqliteBrowseOps(db: Database): SqliteBrowseOps {
  const q = {
    list: db.prepare<[{ after: string; kind: string | null; upstream: string | null; pattern: string | null; limit: number }], RepositorySummary>(
      `${SUMMARY} WHERE r.name > @after AND (@kind IS NULL OR r.kind = @kind) AND (@upstream IS NULL OR r.upstream = @upstream)
      AND (@pattern IS NULL OR r.name LIKE @pattern ESCAPE '\\') ORDER BY r.name LIMIT @limit`),
    get: db.prepare<[string], RepositorySummary>(`${SUMMARY} WHERE r.name = ?`),
    tags: db.prepare<[string, string, number], TagDetail>(`SELECT t.tag AS tag, t.digest AS digest,
      COALESCE(rm.media_type, m.media_type) AS mediaType, m.size AS size, t.fetched_at AS fetchedAt,
      t.checked_at AS checkedAt, m.last_access AS lastAccess
      FROM tags t JOIN manifests m ON m.digest = t.digest LEFT JOIN repo_manifests rm ON rm.repo = t.repo AND rm.digest = t.digest
      WHERE t.repo = ? AND t.tag > ? ORDER BY t.tag LIMIT ?`),
    untagged: db.prepare<[{ repo: string; after: string; limit: number }], UntaggedManifest>(`SELECT rm.digest AS digest,
      COALESCE(rm.media_type, m.media_type) AS mediaType, m.size AS size, m.subject AS subject,
      m.artifact_type AS artifactType, m.created_at AS createdAt, m.last_access AS lastAccess
      FROM repo_manifests rm JOIN manifests m ON m.digest = rm.digest
      WHERE rm.repo = @repo AND rm.digest > @after
        AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.digest = rm.digest AND t.repo = @repo)
        AND NOT EXISTS (SELECT 1 FROM manifest_refs r JOIN repo_manifests p ON p.digest = r.parent AND p.repo = @repo
          WHERE r.child = rm.digest AND r.kind = 'manifest')
      ORDER BY rm.digest LIMIT @limit`),
    manifest: db.prepare<[string, string], {
      digest: string; media_type: string; size: number; bytes: Buffer; subject: string | null; artifact_type: string | null; annotations: string | null;
    }>(`SELECT m.digest, COALESCE(rm.media_type, m.media_type) AS media_type, m.size, m.bytes, m.subject, m.artifact_type, m.annotations
      FROM repo_manifests rm JOIN manifests m ON m.digest = rm.digest WHERE rm.repo = ? AND rm.digest = ?`),
  };
  return {
    listRepositories: (query) => q.list.all({
      after: query.after ?? '',
      kind: query.kind ?? null,
      upstream: query.upstream ?? null,
      pattern: query.search ? likeSubstring(query.search) : null,
      limit: query.limit,
    }),
    getRepository: (name) => q.get.get(name),
    listTagDetails: (repo, after, limit) => q.tags.all(repo, after ?? '', limit),
    listUntaggedManifests: (repo, after, limit) => q.untagged.all({ repo, after: after ?? '', limit }),
    repoManifests(repo, digests) {
      const rows: ManifestRow[] = [];
      for (const digest of [...new Set(digests)].sort()) {
        const r = q.manifest.get(repo, digest);
        if (r) {
          rows.push({
            digest: r.digest, mediaType: r.media_type, size: r.size, bytes: r.bytes, subject: r.subject,
            artifactType: r.artifact_type, annotations: r.annotations,
          });
        }
      }
      return rows;
    },
  };
}
