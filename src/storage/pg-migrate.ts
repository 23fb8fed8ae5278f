import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { IndexTooNewError } from './migrate.js';

/** migrations/postgres/ at the package root, from both src/storage and dist/storage. */
export const PG_MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/postgres/', import.meta.url));

/** An arbitrary constant: the advisory lock every replica's migrate takes ("rmmigrat"). */
const MIGRATE_LOCK = 0x726d6d69676e7274n;

/**
 * Applies migrations/postgres/NNNN_name.sql files not yet recorded in schema_migrations
 * (each number once, even one below the highest applied), in order, each in one
 * transaction with its record. Replicas starting at once queue on a session advisory
 * lock, so each migration runs once; the next one re-reads what was applied. Forward-only: a database past the last migration this build has throws
 * IndexTooNewError (a downgrade). Returns the numbers applied.
 */
export async function migratePg(pool: pg.Pool, dir: string = PG_MIGRATIONS_DIR): Promise<number[]> {
  const files = readdirSync(dir)
    .map((name) => ({ name, n: Number(/^(\d+)_.*\.sql$/.exec(name)?.[1]) }))
    .filter((f) => Number.isInteger(f.n) && f.n > 0)
    .sort((a, b) => a.n - b.n);
  const known = files.at(-1)?.n ?? 0;
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATE_LOCK.toString()]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
      const done = new Set(rows.map((r) => Number(r.version)));
      const current = Math.max(0, ...done);
      if (current > known) throw new IndexTooNewError(current, known);
      const applied: number[] = [];
      for (const file of files) {
        // By number, not "above the highest": a file numbered below one already applied
        // (two branches' migrations merged in another order) still runs, once.
        if (done.has(file.n)) continue;
        const sql = readFileSync(`${dir}/${file.name}`, 'utf8');
        await client.query('BEGIN');
        try {
          await client.query(sql);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [file.n, file.name]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        }
        applied.push(file.n);
      }
      return applied;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATE_LOCK.toString()]).catch(() => {});
    }
  } finally {
    client.release();
  }
}
