/**
 * Issue 13: TagIndex.onTagChanged of the PostgreSQL index. Two storages on one database
 * (two replicas): what one commits to tags reaches the other's listeners; a write
 * refused, or one that does not change a tag, does not. SQLite has no onTagChanged (one process).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPgStorage, type PgStorage } from '../../src/storage/pg-index.js';
import type { TagChange } from '../../src/storage/ports.js';
import { openSqliteStorage } from '../../src/storage/sqlite-index.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { dg, LOCAL, LOCAL2, manifestRow, MIRROR, seedRepositories } from './index-fixtures.js';

let server: TestPostgres;
beforeAll(async () => { server = await startPostgres(); });
afterAll(() => server?.stop());

/** Waits until `heard` holds `n` changes (NOTIFY is asynchronous), then a little more for any extra one. */
async function settle(heard: TagChange[], n: number): Promise<void> {
  const until = Date.now() + 5000;
  while (heard.length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 150));
}

describe('postgres: onTagChanged (tag freshness across replicas)', () => {
  it('tells another replica of committed tag changes, and of nothing refused or unchanged', async () => {
    const url = await server.createDatabase();
    const a: PgStorage = await openPgStorage(url, { poolSize: 2 });
    const b: PgStorage = await openPgStorage(url, { poolSize: 2 });
    try {
      const heard: TagChange[] = [];
      b.ports.tags.onTagChanged!((c) => { if (!c.all) heard.push(c); });
      const p = a.ports;
      await seedRepositories(p);

      await p.tags.putTag(MIRROR, 'latest', dg('1'), 1);
      await p.tags.markTagChecked(MIRROR, 'latest', 2);
      await p.manifests.putManifest(LOCAL, manifestRow(dg('2')), [], 3, { tag: 'v1' });
      // Refused (a reference missing): no notification.
      await p.manifests.putManifest(LOCAL, manifestRow(dg('3')), [{ child: dg('b'), kind: 'layer' }], 4, { tag: 'v2', requireRefs: true })
        .catch(() => undefined);
      await p.tags.deleteTag(MIRROR, 'latest');
      await p.manifests.putManifest(LOCAL2, manifestRow(dg('4')), [], 5, { tag: 'x' });
      expect(await p.manifests.unlinkManifest(LOCAL2, dg('4'))).toBe(true);
      await p.manifests.putManifest(MIRROR, manifestRow(dg('5')), [], 6, { tag: 'old' });
      expect(await p.maintenance.evictImage(MIRROR, dg('5'))).toBeDefined();

      await settle(heard, 7);
      expect(heard).toEqual([
        { repo: MIRROR, tag: 'latest' },
        { repo: LOCAL, tag: 'v1' },
        { repo: MIRROR, tag: 'latest' },
        { repo: LOCAL2, tag: 'x' },
        { repo: LOCAL2 },
        { repo: MIRROR, tag: 'old' },
        { repo: MIRROR },
      ]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a lost LISTEN connection is told as { all, listening: false }, then { all, listening: true } once it listens again', async () => {
    const url = await server.createDatabase();
    const b = await openPgStorage(url, { poolSize: 1 });
    const heard: TagChange[] = [];
    b.ports.tags.onTagChanged!((c) => { if (c.all) heard.push(c); });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      // Listening since start-up: nothing to tell.
      expect(heard).toEqual([]);
      const cut = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name = 'registry-mirror-listen' AND datname = current_database()`);
      expect(cut.rowCount).toBe(1);
      await settle(heard, 2);
      expect(heard).toEqual([{ all: true, listening: false }, { all: true, listening: true }]);
    } finally {
      await admin.end();
      await b.close();
    }
  });

  it('SQLite has no onTagChanged: one process, nobody else writes', () => {
    const s = openSqliteStorage(':memory:');
    try {
      expect(s.ports.tags.onTagChanged).toBeUndefined();
    } finally {
      s.close();
    }
  });
});
