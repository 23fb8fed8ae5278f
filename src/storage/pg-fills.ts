import type { Queryable } from './pg-pool.js';

/** A fills row (migration 0003): which replica fetches a blob, for which repository. */
export interface FillRow {
  ownerUrl: string;
  repo: string;
}

/**
 * Where a blob being fetched can be streamed from (issue 13): the fills table on the
 * PostgreSQL index. The claim is the advisory lock (pg-lock-session.ts); these rows only
 * name its holder. Nothing here is trusted to pick an address: callers dial an owner only
 * if it is one of cluster.peers.
 */
export interface FillRows {
  /** Records this replica as the owner (overwrites a killed owner's row). */
  put(digest: string, row: FillRow, now: number): Promise<void>;
  get(digest: string): Promise<FillRow | undefined>;
  /** Removes the row if it is still this owner's. */
  remove(digest: string, ownerUrl: string): Promise<void>;
}

export function pgFillRows(pool: Queryable): FillRows {
  return {
    async put(digest, row, now) {
      await pool.query(`INSERT INTO fills (digest, owner_url, repo, started_at) VALUES ($1, $2, $3, $4)
        ON CONFLICT (digest) DO UPDATE SET owner_url = EXCLUDED.owner_url, repo = EXCLUDED.repo, started_at = EXCLUDED.started_at`,
      [digest, row.ownerUrl, row.repo, now]);
    },
    async get(digest) {
      const { rows } = await pool.query<{ owner_url: string; repo: string }>('SELECT owner_url, repo FROM fills WHERE digest = $1', [digest]);
      const r = rows[0];
      return r ? { ownerUrl: r.owner_url, repo: r.repo } : undefined;
    },
    async remove(digest, ownerUrl) {
      await pool.query('DELETE FROM fills WHERE digest = $1 AND owner_url = $2', [digest, ownerUrl]);
    },
  };
}
