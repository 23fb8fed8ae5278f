import { readdirSync } from 'node:fs';
import Database from 'better-sqlite3';
import { type IndexRow, type IndexTable } from './index-tables.js';
import { MIGRATIONS_DIR } from './migrate.js';

/**
 * Reads a data dir's index.db for migrate-storage (issue 13): read-only, table by table
 * in keyset pages of the primary key, so memory holds one page whatever the index's size
 * and nothing is written to the source.
 */
export interface SqliteExport {
  /** The rows of `table` after `after` (a key from a previous page's last row), at most `limit`. */
  page(table: IndexTable, limit: number, after?: IndexRow): IndexRow[];
  count(table: IndexTable): number;
  /** True when the blobs table has a row for digest (files of the store no row names). */
  hasBlobRow(digest: string): boolean;
  close(): void;
}

/** The source index cannot be read, or is at another schema version: a usage problem (exit 2). */
export class SourceIndexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceIndexError';
  }
}

/** Opens the index read-only; it must be at this build's schema (run `registry-mirror migrate` on it first). */
export function openSqliteExport(file: string): SqliteExport {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new SourceIndexError(`${file}: cannot open the index (${(err as Error).message})`);
  }
  const version = db.pragma('user_version', { simple: true }) as number;
  const latest = Math.max(0, ...readdirSync(MIGRATIONS_DIR).map((n) => Number(/^(\d+)_.*\.sql$/.exec(n)?.[1] ?? 0)));
  if (version !== latest) {
    db.close();
    throw new SourceIndexError(`${file}: index schema ${version}, this build expects ${latest}: run \`registry-mirror migrate\` on it first`);
  }
  const pages = new Map<string, { first: Database.Statement; next: Database.Statement }>();
  const statements = (t: IndexTable) => {
    let s = pages.get(t.name);
    if (!s) {
      const cols = [...t.key, ...t.columns].join(', ');
      const key = t.key.join(', ');
      const after = t.key.length === 1 ? `${key} > ?` : `(${key}) > (${t.key.map(() => '?').join(', ')})`;
      s = {
        first: db.prepare(`SELECT ${cols} FROM ${t.name} ORDER BY ${key} LIMIT ?`),
        next: db.prepare(`SELECT ${cols} FROM ${t.name} WHERE ${after} ORDER BY ${key} LIMIT ?`),
      };
      pages.set(t.name, s);
    }
    return s;
  };
  const hasBlob = db.prepare('SELECT 1 FROM blobs WHERE digest = ?').pluck();
  return {
    page(table, limit, after) {
      const s = statements(table);
      return (after ? s.next.all(...table.key.map((k) => after[k]), limit) : s.first.all(limit)) as IndexRow[];
    },
    count: (table) => db.prepare(`SELECT COUNT(*) FROM ${table.name}`).pluck().get() as number,
    hasBlobRow: (digest) => hasBlob.get(digest) !== undefined,
    close: () => db.close(),
  };
}
