import type pg from 'pg';
import { OciError } from '../oci/errors.js';
import type { AccessLog, BlobIndex, ManifestIndex, RepositoryIndex, TagIndex } from './ports.js';
import type { BlobRow, ManifestRow } from './index-rows.js';
import { notifySql } from './pg-tag-notify.js';
import { changes, exists, inTransaction, lockForWrite, row, rows, type Queryable } from './pg-pool.js';

/**
 * The PostgreSQL index's everyday ports (issue 13): tags, manifests, blobs, repositories
 * and access bookkeeping, with the semantics of sqlite-ops.ts (the contract suites in
 * test/contracts/ hold both to them). Parameterised queries only; a multi-statement write
 * is one transaction, as in SQLite.
 */
export interface PgCorePorts {
  tags: TagIndex;
  manifests: ManifestIndex;
  blobs: BlobIndex;
  repositories: RepositoryIndex;
  access: AccessLog;
}

const PUT_TAG = `INSERT INTO tags (repo, tag, digest, fetched_at, checked_at) VALUES ($1, $2, $3, $4, $4)
  ON CONFLICT (repo, tag) DO UPDATE SET digest = excluded.digest, fetched_at = excluded.fetched_at, checked_at = excluded.checked_at`;

/** The ManifestRow of a manifests row (snake_case columns). */
export function manifestOf(r: {
  digest: string; media_type: string; size: number; bytes: Buffer; subject: string | null; artifact_type: string | null; annotations: string | null;
}): ManifestRow {
  return {
    digest: r.digest, mediaType: r.media_type, size: r.size, bytes: r.bytes, subject: r.subject,
    artifactType: r.artifact_type, annotations: r.annotations,
  };
}

/** The everyday ports over the pool. */
export function pgCorePorts(pool: pg.Pool): PgCorePorts {
  const q: Queryable = pool;
  return {
    tags: {
      async getTag(repo, tag) {
        const r = await row<{ digest: string; fetched_at: number; checked_at: number }>(q,
          'SELECT digest, fetched_at, checked_at FROM tags WHERE repo = $1 AND tag = $2', [repo, tag]);
        return r && { digest: r.digest, fetchedAt: r.fetched_at, checkedAt: r.checked_at };
      },
      // The NOTIFY in the same statement: other replicas hear of it once (and only if) it commits.
      putTag: async (repo, tag, digest, now) => void await q.query(`WITH put AS (${PUT_TAG}) SELECT ${notifySql('$1', '$2')}`, [repo, tag, digest, now]),
      markTagChecked: async (repo, tag, now) => void await q.query('UPDATE tags SET checked_at = $1 WHERE repo = $2 AND tag = $3', [now, repo, tag]),
      deleteTag: async (repo, tag) => void await q.query(`WITH del AS (DELETE FROM tags WHERE repo = $1 AND tag = $2) SELECT ${notifySql('$1', '$2')}`, [repo, tag]),
      listTags: async (repo, n, last = '') => (await rows<{ tag: string }>(q,
        'SELECT tag FROM tags WHERE repo = $1 AND tag > $2 ORDER BY tag LIMIT $3', [repo, last, n])).map((r) => r.tag),
    },
    manifests: {
      async getManifest(digest) {
        const r = await row<Parameters<typeof manifestOf>[0]>(q, `SELECT digest, media_type, size, bytes, subject, artifact_type, annotations
          FROM manifests WHERE digest = $1`, [digest]);
        return r && manifestOf(r);
      },
      hasRepoManifest: (repo, digest) => exists(q, 'SELECT 1 FROM repo_manifests WHERE repo = $1 AND digest = $2', [repo, digest]),
      repoManifestType: async (repo, digest) => (await row<{ t: string }>(q, `SELECT COALESCE(rm.media_type, m.media_type) AS t
        FROM repo_manifests rm JOIN manifests m ON m.digest = rm.digest WHERE rm.repo = $1 AND rm.digest = $2`, [repo, digest]))?.t,
      mirroredManifestType: async (upstream, digest) => (await row<{ t: string }>(q, `SELECT COALESCE(rm.media_type, m.media_type) AS t
        FROM repo_manifests rm JOIN repositories r ON r.name = rm.repo JOIN manifests m ON m.digest = rm.digest
        WHERE rm.digest = $1 AND r.kind = 'mirror' AND r.upstream = $2 LIMIT 1`, [digest, upstream]))?.t,
      putManifest: (repo, m, refs, now, o = {}) => inTransaction(pool, async (c) => {
        await lockForWrite(c);
        if (o.requireRefs) {
          for (const ref of refs) {
            // FOR SHARE: a concurrent unlink cannot remove what was checked before this commits (gc waits on lockForWrite).
            const present = ref.kind === 'subject' ? true : ref.kind === 'manifest'
              ? await exists(c, 'SELECT 1 FROM repo_manifests WHERE repo = $1 AND digest = $2 FOR SHARE', [repo, ref.child])
              : await exists(c, `SELECT 1 FROM repo_blobs rb JOIN blobs b ON b.digest = rb.digest
                  WHERE rb.repo = $1 AND rb.digest = $2 FOR SHARE`, [repo, ref.child]);
            if (!present) throw new OciError('MANIFEST_BLOB_UNKNOWN', { detail: { digest: ref.child } });
          }
        }
        if (o.tag !== undefined) await c.query(`WITH put AS (${PUT_TAG}) SELECT ${notifySql('$1', '$2')}`, [repo, o.tag, m.digest, now]);
        await c.query(`INSERT INTO manifests (digest, media_type, size, bytes, subject, artifact_type, annotations, created_at, last_access)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (digest) DO NOTHING`,
        [m.digest, m.mediaType, m.size, m.bytes, m.subject, m.artifactType, m.annotations, now]);
        await c.query(`INSERT INTO repo_manifests (repo, digest, media_type) VALUES ($1, $2, $3)
          ON CONFLICT (repo, digest) DO UPDATE SET media_type = excluded.media_type`, [repo, m.digest, m.mediaType]);
        if (refs.length > 0) {
          await c.query(`INSERT INTO manifest_refs (parent, child, kind) SELECT $1, child, kind FROM unnest($2::text[], $3::text[]) AS u(child, kind)
            ON CONFLICT (parent, child) DO NOTHING`, [m.digest, refs.map((r) => r.child), refs.map((r) => r.kind)]);
        }
      }),
      unlinkManifest: (repo, digest) => inTransaction(pool, async (c) => {
        await c.query(`WITH del AS (DELETE FROM tags WHERE repo = $1 AND digest = $2) SELECT ${notifySql('$1', null)}`, [repo, digest]);
        return (await changes(c, 'DELETE FROM repo_manifests WHERE repo = $1 AND digest = $2', [repo, digest])) > 0;
      }),
      referrers: async (repo, subject) => (await rows<{
        digest: string; media_type: string; size: number; artifact_type: string | null; annotations: string | null;
      }>(q, `SELECT m.digest, COALESCE(r.media_type, m.media_type) AS media_type, m.size, m.artifact_type, m.annotations FROM manifests m
        JOIN repo_manifests r ON r.digest = m.digest WHERE r.repo = $1 AND m.subject = $2 ORDER BY m.digest`, [repo, subject]))
        .map((r) => ({ digest: r.digest, mediaType: r.media_type, size: r.size, artifactType: r.artifact_type, annotations: r.annotations })),
    },
    blobs: {
      getBlob: (digest) => row<BlobRow>(q, 'SELECT digest, size, origin FROM blobs WHERE digest = $1', [digest]),
      hasRepoBlob: (repo, digest) => exists(q, 'SELECT 1 FROM repo_blobs WHERE repo = $1 AND digest = $2', [repo, digest]),
      hasMirroredBlob: (upstream, digest) => exists(q, `SELECT 1 FROM repo_blobs rb JOIN repositories r ON r.name = rb.repo
        WHERE rb.digest = $1 AND r.kind = 'mirror' AND r.upstream = $2 LIMIT 1`, [digest, upstream]),
      localRepositoriesWithBlob: async (digest, limit) => (await rows<{ repo: string }>(q, `SELECT rb.repo FROM repo_blobs rb
        JOIN repositories r ON r.name = rb.repo WHERE rb.digest = $1 AND r.kind = 'local' ORDER BY rb.repo LIMIT $2`, [digest, limit]))
        .map((r) => r.repo),
      putBlob: (repo, b, now) => inTransaction(pool, async (c) => {
        await lockForWrite(c);
        // Writing a blob again counts as an access: GC's grace period then covers a re-push.
        await c.query(`INSERT INTO blobs (digest, size, created_at, last_access, hits, origin) VALUES ($1, $2, $3, $3, 0, $4)
          ON CONFLICT (digest) DO UPDATE SET origin = CASE WHEN excluded.origin = 'push' THEN 'push' ELSE blobs.origin END,
          last_access = GREATEST(blobs.last_access, excluded.last_access)`, [b.digest, b.size, now, b.origin]);
        await c.query('INSERT INTO repo_blobs (repo, digest) VALUES ($1, $2) ON CONFLICT DO NOTHING', [repo, b.digest]);
      }),
      linkBlob: async (repo, digest) => void await q.query('INSERT INTO repo_blobs (repo, digest) VALUES ($1, $2) ON CONFLICT DO NOTHING', [repo, digest]),
      unlinkBlob: async (repo, digest) => (await changes(q, 'DELETE FROM repo_blobs WHERE repo = $1 AND digest = $2', [repo, digest])) > 0,
      deleteBlob: (digest) => inTransaction(pool, async (c) => {
        await c.query('DELETE FROM repo_blobs WHERE digest = $1', [digest]);
        await c.query('DELETE FROM blobs WHERE digest = $1', [digest]);
      }),
    },
    repositories: {
      ensureRepository: async (name, kind, upstream, now) => void await q.query(`INSERT INTO repositories (name, kind, upstream, created_at)
        VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING`, [name, kind, upstream, now]),
      hasRepository: (name) => exists(q, 'SELECT 1 FROM repositories WHERE name = $1', [name]),
      listRepositories: async (kind, n, last = '') => (await rows<{ name: string }>(q,
        'SELECT name FROM repositories WHERE kind = $1 AND name > $2 ORDER BY name LIMIT $3', [kind, last, n])).map((r) => r.name),
    },
    access: {
      // One statement per table for the whole batch (arrays unnested), never one per digest.
      recordAccess: async (batch) => {
        if (batch.blobs.length > 0) {
          await q.query(`UPDATE blobs b SET last_access = GREATEST(b.last_access, u.at), hits = b.hits + u.hits
            FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(digest, at, hits) WHERE b.digest = u.digest`,
          [batch.blobs.map((x) => x.digest), batch.blobs.map((x) => x.at), batch.blobs.map((x) => x.hits)]);
        }
        if (batch.manifests.length > 0) {
          await q.query(`UPDATE manifests m SET last_access = GREATEST(m.last_access, u.at)
            FROM unnest($1::text[], $2::bigint[]) AS u(digest, at) WHERE m.digest = u.digest`,
          [batch.manifests.map((x) => x.digest), batch.manifests.map((x) => x.at)]);
        }
      },
    },
  };
}
