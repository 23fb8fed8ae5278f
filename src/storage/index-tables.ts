/**
 * The index's tables as migrate-storage copies them (issue 13): each table's columns
 * and primary key, the same on SQLite (after its migrations) and PostgreSQL. Both
 * sqlite-export.ts (keyset pages) and pg-import.ts (upserts on the key) read it, so a
 * column added to both schemas is added here once.
 */
export interface IndexTable {
  name: string;
  /** The primary key's columns, in order (keyset paging, ON CONFLICT). */
  key: readonly string[];
  /** Every other column. */
  columns: readonly string[];
}

/** In dependency order: rows a later table names are copied first. */
export const INDEX_TABLES: readonly IndexTable[] = [
  { name: 'repositories', key: ['name'], columns: ['kind', 'upstream', 'created_at'] },
  { name: 'manifests', key: ['digest'], columns: ['media_type', 'size', 'bytes', 'subject', 'artifact_type', 'annotations', 'created_at', 'last_access'] },
  { name: 'repo_manifests', key: ['repo', 'digest'], columns: ['media_type'] },
  { name: 'tags', key: ['repo', 'tag'], columns: ['digest', 'fetched_at', 'checked_at'] },
  { name: 'manifest_refs', key: ['parent', 'child'], columns: ['kind'] },
  { name: 'blobs', key: ['digest'], columns: ['size', 'created_at', 'last_access', 'hits', 'origin'] },
  { name: 'repo_blobs', key: ['repo', 'digest'], columns: [] },
  { name: 'stats_hourly', key: ['hour', 'name'], columns: ['value'] },
  { name: 'stats_repo_pulls', key: ['repo'], columns: ['pulls', 'last_pull'] },
];

/** One row, column name → value (numbers, strings, null; manifests.bytes a Buffer). */
export type IndexRow = Record<string, unknown>;
