import type pg from 'pg';
import { changes, inTransaction, row, rows } from './pg-pool.js';
import type { UploadChunkRow, UploadSessionIndex, UploadSessionRow } from './upload-rows.js';

/** An arbitrary constant: the advisory lock that serialises opening sessions ("rmupload"). */
const OPEN_LOCK = 0x726d75706c6f6164n;

interface SessionRecord { id: string; repo: string; owner: string; size: number; chunks: number; finishing: boolean; updated_at: number }

/**
 * Upload sessions on the PostgreSQL index (migration 0004; upload-rows.ts says what each
 * does). Races between replicas are settled by the database, never by a replica's memory:
 * opening counts and inserts under a transaction-level advisory lock (the limits hold
 * cluster-wide), appending is a conditional UPDATE on the session's size, and deleting
 * locks the session row first so that a chunk recorded at the same moment is either
 * deleted with it or not recorded at all.
 */
export function pgUploadPorts(pool: pg.Pool): UploadSessionIndex {
  return {
    openUpload: (s, limits, now) => inTransaction(pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [OPEN_LOCK.toString()]);
      const counts = await row<{ total: number; mine: number }>(c,
        'SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE owner = $1) AS mine FROM upload_sessions', [s.owner]);
      if ((counts?.total ?? 0) >= limits.maxTotal) return 'total';
      if ((counts?.mine ?? 0) >= limits.maxPerOwner) return 'owner';
      await c.query('INSERT INTO upload_sessions (id, repo, owner, updated_at) VALUES ($1, $2, $3, $4)', [s.id, s.repo, s.owner, now]);
      return undefined;
    }),

    async getUpload(id) {
      const r = await row<SessionRecord>(pool, 'SELECT id, repo, owner, size, chunks, finishing, updated_at FROM upload_sessions WHERE id = $1', [id]);
      return r && toSession(r);
    },

    // One statement: the chunk row exists exactly when the size moved.
    addUploadChunk: async (id, chunk, now) => (await changes(pool, `WITH moved AS (
        UPDATE upload_sessions SET size = $2::bigint + $3::bigint, chunks = chunks + 1, updated_at = $5
        WHERE id = $1 AND size = $2 AND NOT finishing RETURNING id)
      INSERT INTO upload_chunks (upload_id, start, length, name) SELECT id, $2, $3, $4 FROM moved`,
    [id, chunk.start, chunk.length, chunk.name, now])) === 1,

    claimUploadFinish: async (id, size, now) => (await changes(pool,
      'UPDATE upload_sessions SET finishing = true, updated_at = $3 WHERE id = $1 AND size = $2 AND NOT finishing', [id, size, now])) === 1,

    touchUpload: async (id, now) => void await pool.query('UPDATE upload_sessions SET updated_at = $2 WHERE id = $1 AND updated_at < $2', [id, now]),

    listUploadChunks: (id) => rows<UploadChunkRow>(pool,
      'SELECT start, length, name FROM upload_chunks WHERE upload_id = $1 ORDER BY start', [id]),

    deleteUpload: (id, only = {}) => inTransaction(pool, async (c) => {
      const locked = await row<{ id: string }>(c, `SELECT id FROM upload_sessions WHERE id = $1
        AND ($2::text IS NULL OR repo = $2) AND ($3::bigint IS NULL OR updated_at < $3) FOR UPDATE`,
      [id, only.repo ?? null, only.untouchedBefore ?? null]);
      if (!locked) return undefined;
      const names = await rows<{ name: string }>(c, 'SELECT name FROM upload_chunks WHERE upload_id = $1', [id]);
      await c.query('DELETE FROM upload_sessions WHERE id = $1', [id]);
      return names.map((n) => n.name);
    }),

    staleUploads: async (before, limit) => (await rows<{ id: string }>(pool,
      'SELECT id FROM upload_sessions WHERE updated_at < $1 ORDER BY updated_at LIMIT $2', [before, limit])).map((r) => r.id),

    async knownUploadChunks(names) {
      if (names.length === 0) return new Set();
      return new Set((await rows<{ name: string }>(pool, 'SELECT name FROM upload_chunks WHERE name = ANY($1::text[])', [names])).map((r) => r.name));
    },

    async openUploadIds(ids) {
      if (ids.length === 0) return new Set();
      return new Set((await rows<{ id: string }>(pool, 'SELECT id FROM upload_sessions WHERE id = ANY($1::text[])', [ids])).map((r) => r.id));
    },

    countUploads: async () => (await row<{ n: number }>(pool, 'SELECT COUNT(*) AS n FROM upload_sessions'))?.n ?? 0,
  };
}

function toSession(r: SessionRecord): UploadSessionRow {
  return { id: r.id, repo: r.repo, owner: r.owner, size: r.size, chunks: r.chunks, finishing: r.finishing, updatedAt: r.updated_at };
}
