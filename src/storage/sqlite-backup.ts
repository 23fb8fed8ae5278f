import Database from 'better-sqlite3';

/**
 * A consistent copy of the SQLite index at `dest`, taken while servers and commands keep
 * writing it: SQLite's online backup copies the pages of one read snapshot (WAL content
 * included), which a file copy of index.db (without its -wal) would not.
 */
export async function snapshotSqliteIndex(source: string, dest: string): Promise<void> {
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    await db.backup(dest);
  } finally {
    db.close();
  }
}
