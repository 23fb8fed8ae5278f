import type { IndexRow, IndexTable } from './index-tables.js';
import { openMigratedPool } from './pg-index.js';

/**
 * Writes rows exported from a SQLite index into the PostgreSQL index (migrate-storage,
 * issue 13): one multi-row INSERT per batch, an upsert on the primary key, so a second
 * run after an interruption rewrites the same rows instead of adding duplicates. Loaded
 * only by migrate-storage, through a dynamic import (pg stays out of the default).
 */
export interface PgImport {
  /** Upserts the rows (at most a few hundred: one statement); returns how many. */
  upsert(table: IndexTable, rows: readonly IndexRow[]): Promise<number>;
  close(): Promise<void>;
}

/** Opens a small pool on url and brings the schema up to date (the same migrations `serve` runs). */
export async function openPgImport(url: string): Promise<PgImport> {
  const pool = await openMigratedPool(url, 2);
  return {
    async upsert(table, rows) {
      if (rows.length === 0) return 0;
      const cols = [...table.key, ...table.columns];
      const params: unknown[] = [];
      const values = rows.map((r) => `(${cols.map((c) => { params.push(r[c] ?? null); return `$${params.length}`; }).join(', ')})`);
      // Keys only (repo_blobs): nothing to update, the row is there.
      const onConflict = table.columns.length === 0 ? 'DO NOTHING'
        : `DO UPDATE SET ${table.columns.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`;
      await pool.query(`INSERT INTO ${table.name} (${cols.join(', ')}) VALUES ${values.join(', ')} ON CONFLICT (${table.key.join(', ')}) ${onConflict}`, params);
      return rows.length;
    },
    close: () => pool.end(),
  };
}
