/** The SQLite index file: its migrations and journal mode (the ports' behaviour is in sqlite-index.test.ts and test/contracts/). */
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IndexTooNewError, MIGRATIONS_DIR, migrate } from './migrate.js';
import type { StoragePorts } from './ports.js';
import { openSqliteStorage, type SqliteStorage } from './sqlite-index.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const HIGHEST_MIGRATION = Math.max(
  ...readdirSync(MIGRATIONS_DIR).map((f) => Number(/^(\d+)_.*\.sql$/.exec(f)?.[1] ?? 0)),
);

let dir: string;
let file: string;
let storage: SqliteStorage;
let ports: StoragePorts;
const openIndex = () => {
  storage = openSqliteStorage(file);
  ports = storage.ports;
};
/** Second connections opened by a test, to look at the file as another process would. */
const others: Database.Database[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mirror-index-'));
  file = join(dir, 'index.db');
  openIndex();
});
afterEach(() => {
  for (const db of others.splice(0)) db.close();
  try {
    storage.close();
  } catch {
    // already closed by the test
  }
  rmSync(dir, { recursive: true, force: true });
});

function peek(): Database.Database {
  const db = new Database(file);
  others.push(db);
  return db;
}
describe('migrations', () => {
  it('set user_version to the highest migration number', async () => {
    expect(HIGHEST_MIGRATION).toBeGreaterThanOrEqual(1);
    expect(peek().pragma('user_version', { simple: true })).toBe(HIGHEST_MIGRATION);
  });

  it('apply nothing new to a database that is up to date, and keep its data', async () => {
    await ports.tags.putTag('docker.io/library/alpine', '3.20', d('a'), 1);
    storage.close();
    const db = peek();
    expect(migrate(db)).toEqual([]);
    expect(db.pragma('user_version', { simple: true })).toBe(HIGHEST_MIGRATION);
    openIndex();
    expect((await ports.tags.getTag('docker.io/library/alpine', '3.20'))?.digest).toBe(d('a'));
  });

  it('apply every migration to an empty database, in order', async () => {
    const db = new Database(':memory:');
    others.push(db);
    const applied = migrate(db);
    expect(applied).toHaveLength(readdirSync(MIGRATIONS_DIR).filter((f) => /^\d+_.*\.sql$/.test(f)).length);
    expect(applied).toEqual([...applied].sort((a, b) => a - b));
    expect(applied.at(-1)).toBe(HIGHEST_MIGRATION);
  });

  describe('from a directory', () => {
    let migrations: string;
    let db: Database.Database;
    beforeEach(() => {
      migrations = mkdtempSync(join(dir, 'migrations-'));
      db = new Database(':memory:');
      others.push(db);
    });

    function writeMigration(name: string, sql: string) {
      writeFileSync(join(migrations, name), sql);
    }

    it('orders files by number, not by name, and ignores other files', async () => {
      writeMigration('2_create.sql', 'CREATE TABLE t (x INTEGER);');
      writeMigration('10_insert.sql', 'INSERT INTO t VALUES (10);');
      writeMigration('README.md', 'not sql');
      writeMigration('0_zero.sql', 'this is not SQL and must not run');
      expect(migrate(db, migrations)).toEqual([2, 10]);
      expect(db.pragma('user_version', { simple: true })).toBe(10);
      expect(db.prepare('SELECT x FROM t').pluck().all()).toEqual([10]);
    });

    it('applies only files above user_version when new ones appear', async () => {
      writeMigration('0001_a.sql', 'CREATE TABLE a (x);');
      expect(migrate(db, migrations)).toEqual([1]);
      writeMigration('0002_b.sql', 'CREATE TABLE b (x);');
      expect(migrate(db, migrations)).toEqual([2]);
      expect(migrate(db, migrations)).toEqual([]);
      expect(db.pragma('user_version', { simple: true })).toBe(2);
    });

    it('rolls a failing migration back entirely, user_version included', async () => {
      writeMigration('0001_ok.sql', 'CREATE TABLE a (x);');
      writeMigration('0002_broken.sql', 'CREATE TABLE b (x); INSERT INTO nowhere VALUES (1);');
      expect(() => migrate(db, migrations)).toThrow(/nowhere/);
      expect(db.pragma('user_version', { simple: true })).toBe(1);
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
      expect(tables).toEqual(['a']);
    });
  });
});

describe('migration 0004 (media type per repository link, leaked blob links)', () => {
  it('fills each link with its manifest media type and drops pushed-blob links no manifest of a mirrored repo references', async () => {
    const old = mkdtempSync(join(dir, 'migrations-'));
    for (const f of readdirSync(MIGRATIONS_DIR).filter((f) => /^000[1-3]_.*\.sql$/.test(f))) copyFileSync(join(MIGRATIONS_DIR, f), join(old, f));
    const db = new Database(':memory:');
    others.push(db);
    expect(migrate(db, old)).toEqual([1, 2, 3]);
    db.exec(`INSERT INTO repositories VALUES ('team/app', 'local', NULL, 1), ('docker.io/library/alpine', 'mirror', 'docker.io', 1);
      INSERT INTO manifests (digest, media_type, size, bytes, created_at, last_access) VALUES ('${d('m')}', 'application/vnd.oci.image.manifest.v1+json', 2, x'7b7d', 1, 1);
      INSERT INTO repo_manifests VALUES ('team/app', '${d('m')}'), ('docker.io/library/alpine', '${d('m')}');
      INSERT INTO manifest_refs VALUES ('${d('m')}', '${d('1')}', 'layer');
      INSERT INTO blobs (digest, size, created_at, last_access, origin) VALUES ('${d('1')}', 1, 1, 1, 'push'), ('${d('2')}', 1, 1, 1, 'push'), ('${d('3')}', 1, 1, 1, 'upstream');
      INSERT INTO repo_blobs VALUES ('team/app', '${d('1')}'), ('team/app', '${d('2')}'), ('docker.io/library/alpine', '${d('1')}'),
        ('docker.io/library/alpine', '${d('2')}'), ('docker.io/library/alpine', '${d('3')}');`);
    expect(migrate(db)).toEqual(expect.arrayContaining([4]));
    expect(db.prepare('SELECT repo, media_type FROM repo_manifests ORDER BY repo').all()).toEqual([
      { repo: 'docker.io/library/alpine', media_type: 'application/vnd.oci.image.manifest.v1+json' },
      { repo: 'team/app', media_type: 'application/vnd.oci.image.manifest.v1+json' },
    ]);
    // d('2') was pushed and only ever linked to the mirrored repo on a failure path: gone.
    expect(db.prepare('SELECT repo, digest FROM repo_blobs ORDER BY repo, digest').all()).toEqual([
      { repo: 'docker.io/library/alpine', digest: d('1') },
      { repo: 'docker.io/library/alpine', digest: d('3') },
      { repo: 'team/app', digest: d('1') },
      { repo: 'team/app', digest: d('2') },
    ]);
  });
});

describe('the database file', () => {
  it('refuse an index written by a newer version (a downgrade) and leave it as it was', () => {
    storage.close();
    const db = new Database(file);
    db.pragma(`user_version = ${HIGHEST_MIGRATION + 1}`);
    db.close();
    expect(() => openSqliteStorage(file)).toThrow(IndexTooNewError);
    expect(() => openSqliteStorage(file)).toThrow(`schema version ${HIGHEST_MIGRATION + 1}, newer than this registry-mirror knows (${HIGHEST_MIGRATION})`);
    expect(peek().pragma('user_version', { simple: true })).toBe(HIGHEST_MIGRATION + 1);
  });

  it('is in WAL journal mode', async () => {
    expect(peek().pragma('journal_mode', { simple: true })).toBe('wal');
  });
});
