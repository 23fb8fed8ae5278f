import type pg from 'pg';
import type { BrowseIndex } from './ports.js';
import type { RepositorySummary, TagDetail, UntaggedManifest } from './browse-rows.js';
import { likeSubstring } from './sqlite-browse.js';
import { manifestOf } from './pg-ops.js';
import { row, rows } from './pg-pool.js';

// Per repository: distinct blob bytes, tag count and pulls (as sqlite-browse.ts).
const SUMMARY = `SELECT r.name AS name, r.kind AS kind, r.upstream AS upstream, r.created_at AS "createdAt",
  COALESCE((SELECT SUM(b.size) FROM repo_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE rb.repo = r.name), 0) AS bytes,
  (SELECT COUNT(*) FROM tags t WHERE t.repo = r.name) AS tags,
  p.last_pull AS "lastPull", COALESCE(p.pulls, 0) AS pulls
  FROM repositories r LEFT JOIN stats_repo_pulls p ON p.repo = r.name`;

/** The console's browsing port (issue 12) for the PostgreSQL index: keyset walks with a LIMIT, as sqlite-browse.ts. */
export function pgBrowsePorts(pool: pg.Pool): BrowseIndex {
  return {
    listRepositories: (query) => rows<RepositorySummary>(pool, `${SUMMARY} WHERE r.name > $1
      AND ($2::text IS NULL OR r.kind = $2) AND ($3::text IS NULL OR r.upstream = $3)
      AND ($4::text IS NULL OR r.name LIKE $4 ESCAPE '\\') ORDER BY r.name LIMIT $5`,
    [query.after ?? '', query.kind ?? null, query.upstream ?? null, query.search ? likeSubstring(query.search) : null, query.limit]),
    getRepository: (name) => row<RepositorySummary>(pool, `${SUMMARY} WHERE r.name = $1`, [name]),
    listTagDetails: (repo, after, limit) => rows<TagDetail>(pool, `SELECT t.tag AS tag, t.digest AS digest,
      COALESCE(rm.media_type, m.media_type) AS "mediaType", m.size AS size, t.fetched_at AS "fetchedAt",
      t.checked_at AS "checkedAt", m.last_access AS "lastAccess"
      FROM tags t JOIN manifests m ON m.digest = t.digest LEFT JOIN repo_manifests rm ON rm.repo = t.repo AND rm.digest = t.digest
      WHERE t.repo = $1 AND t.tag > $2 ORDER BY t.tag LIMIT $3`, [repo, after ?? '', limit]),
    listUntaggedManifests: (repo, after, limit) => rows<UntaggedManifest>(pool, `SELECT rm.digest AS digest,
      COALESCE(rm.media_type, m.media_type) AS "mediaType", m.size AS size, m.subject AS subject,
      m.artifact_type AS "artifactType", m.created_at AS "createdAt", m.last_access AS "lastAccess"
      FROM repo_manifests rm JOIN manifests m ON m.digest = rm.digest
      WHERE rm.repo = $1 AND rm.digest > $2
        AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.digest = rm.digest AND t.repo = $1)
        AND NOT EXISTS (SELECT 1 FROM manifest_refs r JOIN repo_manifests p ON p.digest = r.parent AND p.repo = $1
          WHERE r.child = rm.digest AND r.kind = 'manifest')
      ORDER BY rm.digest LIMIT $3`, [repo, after ?? '', limit]),
    repoManifests: async (repo, digests) => (await rows<Parameters<typeof manifestOf>[0]>(pool, `SELECT m.digest,
      COALESCE(rm.media_type, m.media_type) AS media_type, m.size, m.bytes, m.subject, m.artifact_type, m.annotations
      FROM repo_manifests rm JOIN manifests m ON m.digest = rm.digest WHERE rm.repo = $1 AND rm.digest = ANY($2::text[])
      ORDER BY m.digest`, [repo, [...new Set(digests)]])).map(manifestOf),
  };
}
