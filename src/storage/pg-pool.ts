import pg from 'pg';

/**
 * The PostgreSQL index's connection pool (issue 13) and the few helpers every pg-*.ts
 * query file shares. BIGINT (int8) and NUMERIC (SUM over BIGINT) columns are answered as
 * JavaScript numbers: timestamps in ms and byte counts stay far below 2^53.
 */
const TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** Something that runs a parameterised query: the pool, or one client inside a transaction. */
export type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** Opens a bounded pool; nothing connects until the first query. */
export function createPgPool(url: string, size: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url, max: size, types: TYPES,
    // A database that does not answer fails the request (503) instead of queueing it forever.
    connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000,
    application_name: 'registry-mirror',
  });
  // An idle client's connection dropped by the server: the pool discards it; nothing to do
  // but not crash the process (pg emits it on the pool).
  pool.on('error', () => {});
  return pool;
}

/** Runs fn in one transaction on one client: committed when it resolves, rolled back when it throws. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Serialises the index's conditional deletes (prune, gc, evict) against the writers that
 * link content (putManifest, putBlob, linkBlob), as SQLite's IMMEDIATE transactions do:
 * SHARE ROW EXCLUSIVE conflicts with the row locks of inserts and deletes, so what a
 * delete re-reads as unused cannot gain a link before it commits. Reads are not blocked.
 */
export async function lockLinks(c: pg.PoolClient): Promise<void> {
  await c.query('LOCK TABLE repo_manifests, repo_blobs, manifest_refs, blobs IN SHARE ROW EXCLUSIVE MODE');
}

/** The rows of a query. */
export async function rows<T>(q: Queryable, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await q.query(sql, params)).rows as T[];
}

/** The first row of a query, or undefined. */
export async function row<T>(q: Queryable, sql: string, params: unknown[] = []): Promise<T | undefined> {
  return (await q.query(sql, params)).rows[0] as T | undefined;
}

/** True when the query returns a row. */
export async function exists(q: Queryable, sql: string, params: unknown[] = []): Promise<boolean> {
  return ((await q.query(sql, params)).rowCount ?? 0) > 0;
}

/** Rows affected by a statement. */
export async function changes(q: Queryable, sql: string, params: unknown[] = []): Promise<number> {
  return (await q.query(sql, params)).rowCount ?? 0;
}
