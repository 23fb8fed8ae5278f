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
  // Every query and checkout reports a lost or refused database the same way (storage-errors.ts: 503).
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<pg.QueryResult>;
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => Promise<pg.PoolClient> | undefined;
  Object.assign(pool, {
    query: (...args: unknown[]) => query(...args).catch((err: unknown) => { throw tagPgError(err); }),
    // The pool's own query() checks out with a callback: that form passes through untouched.
    connect: (...args: unknown[]) => (args.length > 0 ? connect(...args)
      : connect()!.catch((err: unknown) => { throw tagPgError(err); })),
  });
  return pool;
}

/**
 * The error with a `code` storage-errors.ts knows: the server's SQLSTATE when it sent one
 * (53100 disk full, 08xxx, 57P0x...); otherwise the connection failed or broke (refused,
 * reset, the pool's connect timeout, "Connection terminated"): PG_UNAVAILABLE. Errors of
 * the mirror's own (an OciError thrown inside a transaction) pass through unchanged.
 */
export function tagPgError(err: unknown): unknown {
  if (!(err instanceof Error) || err.name === 'OciError' || err.name === 'IndexTooNewError') return err;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return err;
  if (err instanceof pg.DatabaseError) return err;
  Object.defineProperty(err, 'code', { value: 'PG_UNAVAILABLE', configurable: true, enumerable: true, writable: true });
  return err;
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
    throw tagPgError(err);
  } finally {
    client.release();
  }
}

/** An arbitrary constant: the advisory lock between link writers and maintenance deletes ("rmlinks"). */
const LINKS_LOCK = '0x726d6c696e6b73';

/**
 * Serialises the index's conditional deletes (prune, gc, evict) against the writers that
 * add links and references (putManifest, putBlob), as SQLite's IMMEDIATE transactions do:
 * a delete holds this transaction-level advisory lock exclusively, each writer shares it,
 * so writers never wait for each other and what a delete re-reads as unused cannot gain a
 * reference before it commits. A lock that is not a table lock cannot deadlock with row
 * locks taken in another order. Released at COMMIT or ROLLBACK.
 */
export async function lockForDelete(c: pg.PoolClient): Promise<void> {
  await c.query(`SELECT pg_advisory_xact_lock(${BigInt(LINKS_LOCK)})`);
}

/** The writers' side of lockForDelete (shared). */
export async function lockForWrite(c: pg.PoolClient): Promise<void> {
  await c.query(`SELECT pg_advisory_xact_lock_shared(${BigInt(LINKS_LOCK)})`);
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
