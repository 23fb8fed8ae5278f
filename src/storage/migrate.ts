import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Database } from 'better-sqlite3';

/** migrations/ at the package root, from both src/storage and dist/storage. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/**
 * The index was written by a newer registry-mirror (its schema is past the last migration
 * this build has): a downgrade. Refused rather than run on a schema the code does not know.
 */
export class IndexTooNewError extends Error {
  constructor(readonly version: number, readonly known: number) {
    super(`the index is at schema version ${version}, newer than this registry-mirror knows (${known}): ` +
      'run the newer version again, or restore a backup taken before the upgrade');
    this.name = 'IndexTooNewError';
  }
}

/**
 * Applies migrations/NNNN_name.sql files whose number is above PRAGMA user_version, in
 * order, each in one transaction together with the user_version bump. Forward-only:
 * an index past the last migration throws IndexTooNewError. Returns the numbers applied.
 */
export function migrate(db: Database, dir: string = MIGRATIONS_DIR): number[] {
  const current = db.pragma('user_version', { simple: true }) as number;
  const files = readdirSync(dir)
    .map((name) => ({ name, n: Number(/^(\d+)_.*\.sql$/.exec(name)?.[1]) }))
    .filter((f) => Number.isInteger(f.n) && f.n > 0)
    .sort((a, b) => a.n - b.n);
  const known = files.at(-1)?.n ?? 0;
  if (current > known) throw new IndexTooNewError(current, known);
  const applied: number[] = [];
  for (const file of files) {
    if (file.n <= current) continue;
    const sql = readFileSync(`${dir}/${file.name}`, 'utf8');
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${file.n}`);
    })();
    applied.push(file.n);
  }
  return applied;
}
