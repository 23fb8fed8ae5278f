/**
 * Issue 13: the mirror on a PostgreSQL index (index.driver: postgres), against a throwaway
 * PostgreSQL 15 (test/helpers/postgres.ts; PG_TEST_URL for an external one). Two replicas
 * on one database share the index; replicas starting at once migrate it once; a wrong
 * password is a clear startup error that names index.url and never shows the password.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { IndexTooNewError } from '../../src/storage/migrate.js';
import { openPgStorage } from '../../src/storage/pg-index.js';
import { migratePg, PG_MIGRATIONS_DIR } from '../../src/storage/pg-migrate.js';
import { createPgPool } from '../../src/storage/pg-pool.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { mirrorAppConfig, startMirrorAppWith } from '../helpers/mirror-app.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let server: TestPostgres;
let up: FakeUpstream;
beforeAll(async () => {
  [server, up] = await Promise.all([startPostgres(), startFakeUpstream()]);
});
afterAll(async () => {
  await up?.close();
  await server?.stop();
});

async function get(base: string, path: string) {
  const res = await request(`${base}${path}`);
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}

/** Upstream manifest GETs answered (a first 401 for the token dance is not one). */
const upstreamManifestGets = (repo: string) =>
  up.count({ method: 'GET', kind: 'manifest', repo }) - up.count({ method: 'GET', kind: 'manifest', repo, status: 401 });

describe('the mirror on a PostgreSQL index', () => {
  test('serves a pull through the upstream, and a second replica on the same database sees the cached tag', async () => {
    const url = await server.createDatabase();
    const env = { MIRROR_INDEX_DRIVER: 'postgres', MIRROR_INDEX_URL: url, MIRROR_INDEX_POOL_SIZE: '3' };
    const layer = randomBytes(64 * 1024);
    const image = up.addImage('library/pgapp', '1.0', { layers: [layer] });
    const a = await startMirrorAppWith(mirrorAppConfig(up.url, env));
    const b = await startMirrorAppWith(mirrorAppConfig(up.url, env));
    try {
      const cold = await get(a.url, '/v2/library/pgapp/manifests/1.0');
      expect(cold.status).toBe(200);
      expect(cold.headers['x-cache']).toBe('MISS');
      expect(cold.body.equals(image.manifest)).toBe(true);
      const blob = await get(a.url, `/v2/library/pgapp/blobs/${sha256(layer)}`);
      expect(blob.status).toBe(200);
      expect(sha256(blob.body)).toBe(sha256(layer));
      expect(upstreamManifestGets('library/pgapp')).toBe(1);

      // Replica b never asked the upstream: the tag and the manifest bytes come from the shared index.
      const shared = await get(b.url, '/v2/library/pgapp/manifests/1.0');
      expect(shared.status).toBe(200);
      expect(shared.headers['x-cache']).toBe('HIT');
      expect(shared.headers['docker-content-digest']).toBe(image.digest);
      expect(shared.body.equals(image.manifest)).toBe(true);
      expect(upstreamManifestGets('library/pgapp')).toBe(1);
      // Neither replica opened a SQLite file.
      expect(existsSync(join(a.dataDir, 'index.db')) || existsSync(join(b.dataDir, 'index.db'))).toBe(false);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a wrong password in index.url: startup fails naming index.url, without the password', async () => {
    const good = await server.createDatabase();
    const bad = server.withPassword(good, 'not-the-Secret-pw');
    const config = mirrorAppConfig(up.url, { MIRROR_INDEX_DRIVER: 'postgres', MIRROR_INDEX_URL: bad });
    try {
      const err = await startMirrorAppWith(config).then(() => undefined, (e: unknown) => e as Error);
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toMatch(/^index\.url: cannot open the PostgreSQL index at postgres:\/\/[^:/]+:\*\*\*@[^/]+\/t_[0-9a-f]+/);
      expect(err!.message).toMatch(/password authentication failed/);
      expect(err!.message).not.toContain('not-the-Secret-pw');
      expect(err!.message).not.toContain(new URL(good).password);
    } finally {
      rmSync(config.storage.path, { recursive: true, force: true });
    }
  });

  test('the database going away: 503 STORAGE_UNAVAILABLE to the client, no address or password in the answer', async () => {
    const own = await startPostgres({ local: true });
    const url = await own.createDatabase();
    const mirror = await startMirrorAppWith(mirrorAppConfig(up.url, { MIRROR_INDEX_DRIVER: 'postgres', MIRROR_INDEX_URL: url }));
    try {
      up.addImage('library/pgdown', 'a', { layers: [randomBytes(100)] });
      up.addImage('library/pgdown', 'b', { layers: [randomBytes(100)] });
      expect((await get(mirror.url, '/v2/library/pgdown/manifests/a')).status).toBe(200);
      await own.stop();
      const down = await get(mirror.url, '/v2/library/pgdown/manifests/b');
      expect(down.status).toBe(503);
      const body = down.body.toString();
      expect(JSON.parse(body).errors[0].code).toBe('STORAGE_UNAVAILABLE');
      const u = new URL(url);
      expect(body).not.toContain(u.port);
      expect(body).not.toContain(u.password);
    } finally {
      await mirror.close();
      await own.stop();
    }
  });
});

describe('PostgreSQL index writers and gc at once', () => {
  test('pushes racing gc: a manifest is stored only with its blob, a blob deleted only with no manifest on it, no deadlock', async () => {
    const url = await server.createDatabase();
    const [writer, gc] = [await openPgStorage(url, { poolSize: 8 }), await openPgStorage(url, { poolSize: 2 })];
    try {
      const p = writer.ports;
      await p.repositories.ensureRepository('team/app', 'local', null, 1);
      const blobs = Array.from({ length: 24 }, (_, i) => `sha256:${i.toString(16).padStart(64, 'b')}`);
      // Pushed long ago and never referenced: every one is gc's garbage until a manifest names it.
      for (const digest of blobs) await p.blobs.putBlob('team/app', { digest, size: 10, origin: 'push' }, 1);
      const manifest = (i: number) => {
        const bytes = Buffer.from(`{"layer":"${blobs[i]}"}`);
        return { digest: `sha256:${i.toString(16).padStart(64, 'c')}`, mediaType: 'application/vnd.oci.image.manifest.v1+json',
          size: bytes.length, bytes, subject: null, artifactType: null, annotations: null };
      };
      const pushes = blobs.map((blob, i) => p.manifests.putManifest('team/app', manifest(i), [{ child: blob, kind: 'layer' }], 2,
        { requireRefs: true, tag: `v${i}` }).then(() => true, (err: Error) => {
        if ((err as { code?: string }).code !== 'MANIFEST_BLOB_UNKNOWN') throw err;
        return false;
      }));
      const collect = (async () => {
        const deleted: string[] = [];
        for (let round = 0; round < 6; round++) deleted.push(...await gc.ports.maintenance.deleteUnusedPushedBlobs(blobs, 1_000));
        return deleted;
      })();
      const [stored, deleted] = await Promise.all([Promise.all(pushes), collect]);
      for (const [i, blob] of blobs.entries()) {
        const row = await p.blobs.getBlob(blob);
        const tagged = await p.tags.getTag('team/app', `v${i}`);
        // Stored ⇔ its blob survived; refused ⇔ gc took the blob first.
        expect({ i, stored: stored[i], blob: row !== undefined, tagged: tagged !== undefined })
          .toEqual({ i, stored: !deleted.includes(blob), blob: !deleted.includes(blob), tagged: !deleted.includes(blob) });
      }
    } finally {
      await writer.close();
      await gc.close();
    }
  });
});

describe('PostgreSQL index migrations', () => {
  test('two replicas migrating one database at once: each migration is applied once', async () => {
    const url = await server.createDatabase();
    const pools = [createPgPool(url, 2), createPgPool(url, 2)];
    try {
      // Every migration this build has (issue 13's parts each add theirs).
      const versions = readdirSync(PG_MIGRATIONS_DIR).map((f) => Number(/^(\d+)_.*\.sql$/.exec(f)?.[1])).filter((v) => v > 0).sort((a, b) => a - b);
      expect(versions.length).toBeGreaterThanOrEqual(2);
      const applied = await Promise.all(pools.map((p) => migratePg(p)));
      expect(applied.map((a) => a.length).sort()).toEqual([0, versions.length]);
      const { rows } = await pools[0]!.query<{ version: number; n: number }>(
        'SELECT version, COUNT(*) OVER () AS n FROM schema_migrations ORDER BY version');
      expect(rows).toEqual(versions.map((version) => ({ version, n: versions.length })));
      // Opening it again (a restart) applies nothing and works.
      const storage = await openPgStorage(url, { poolSize: 2 });
      expect(await storage.ports.maintenance.stats()).toEqual({ blobs: 0, blobBytes: 0, manifests: 0, tags: 0, repositories: 0 });
      await storage.close();
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  test('a migration numbered below one already applied (merged later) still runs, once', async () => {
    const url = await server.createDatabase();
    const dir = mkdtempSync(join(tmpdir(), 'pg-migrations-'));
    const pool = createPgPool(url, 1);
    try {
      writeFileSync(join(dir, '0001_a.sql'), 'CREATE TABLE a (x int);');
      writeFileSync(join(dir, '0003_c.sql'), 'CREATE TABLE c (x int);');
      expect(await migratePg(pool, dir)).toEqual([1, 3]);
      writeFileSync(join(dir, '0002_b.sql'), 'CREATE TABLE b (x int);');
      expect(await migratePg(pool, dir)).toEqual([2]);
      expect(await migratePg(pool, dir)).toEqual([]);
      const { rows } = await pool.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM information_schema.tables WHERE table_name IN ('a', 'b', 'c')`);
      expect(rows[0]!.n).toBe(3);
    } finally {
      await pool.end();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a database migrated by a newer registry-mirror is refused (IndexTooNewError), not used', async () => {
    const url = await server.createDatabase();
    await (await openPgStorage(url, { poolSize: 1 })).close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')`);
    await client.end();
    const err = await openPgStorage(url).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(IndexTooNewError);
    expect((err as IndexTooNewError).version).toBe(9999);
  });
});
