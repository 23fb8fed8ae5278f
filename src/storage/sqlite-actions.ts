import type Database from 'better-sqlite3';

/** The SQLite queries behind the console's delete confirmations (ports.ts MaintenanceIndex.manifestTags). */
export function sqliteActionOps(db: Database.Database) {
  const linked = db.prepare<[string, string], number>('SELECT 1 FROM repo_manifests WHERE repo = ? AND digest = ?').pluck();
  const tagsOf = db.prepare<[string, string, number], string>('SELECT tag FROM tags WHERE repo = ? AND digest = ? ORDER BY tag LIMIT ?').pluck();
  // One read transaction: the link and its tags are seen at the same moment.
  const manifestTags = db.transaction((repo: string, digest: string, limit: number): string[] | undefined =>
    (linked.get(repo, digest) === undefined ? undefined : tagsOf.all(repo, digest, Math.max(0, limit))));
  return {
    manifestTags: (repo: string, digest: string, limit: number) => manifestTags(repo, digest, limit),
  };
}
