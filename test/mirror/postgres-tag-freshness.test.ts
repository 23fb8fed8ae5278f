/**
 * Issue 13: tag freshness across replicas on one PostgreSQL index. Each replica memoizes
 * fresh tags (src/proxy/manifest-memo.ts); a tag another replica moves or evicts reaches
 * it by LISTEN/NOTIFY (src/storage/pg-tag-notify.ts) at once, well within the tag TTL, and
 * a lost LISTEN connection drops the whole memo.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeHtpasswd } from '../helpers/htpasswd.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { mirrorAppConfig, startMirrorAppWith, type MirrorApp } from '../helpers/mirror-app.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let server: TestPostgres;
let up: FakeUpstream;
beforeAll(async () => {
  [server, up] = await Promise.all([startPostgres(), startFakeUpstream()]);
});
afterAll(async () => {
  await up?.close();
  await server?.stop();
});

const ALICE = `Basic ${Buffer.from('alice:pw-alice').toString('base64')}`;

async function get(base: string, path: string, authorization?: string) {
  const res = await request(`${base}${path}`, authorization ? { headers: { authorization } } : {});
  await res.body.dump();
  return { status: res.statusCode, digest: res.headers['docker-content-digest'], cache: res.headers['x-cache'] };
}

/** Upstream manifest GETs answered (a first 401 for the token dance is not one). */
const upstreamGets = (repo: string) =>
  up.count({ method: 'GET', kind: 'manifest', repo }) - up.count({ method: 'GET', kind: 'manifest', repo, status: 401 });

/** Retries `check` for up to 5 s (a notification is asynchronous, though it takes milliseconds). */
async function eventually<T>(check: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const until = Date.now() + 5000;
  for (;;) {
    const v = await check();
    if (ok(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Two replicas on a fresh database, the tag TTL one minute; both closed by `run`'s end. */
async function twoReplicas(run: (a: MirrorApp, b: MirrorApp, url: string) => Promise<void>, extra: Record<string, string> = {}): Promise<void> {
  const url = await server.createDatabase();
  const env = { MIRROR_INDEX_DRIVER: 'postgres', MIRROR_INDEX_URL: url, MIRROR_INDEX_POOL_SIZE: '3', MIRROR_UPSTREAM_TAG_TTL: '1m', ...extra };
  const a = await startMirrorAppWith(mirrorAppConfig(up.url, env));
  const b = await startMirrorAppWith(mirrorAppConfig(up.url, env));
  try {
    await run(a, b, url);
  } finally {
    await a.close();
    await b.close();
  }
}

describe('tag freshness across replicas on a PostgreSQL index', () => {
  test('a tag replica A moves is answered by replica B with the new digest at once, well within the TTL', async () => {
    const v1 = up.addImage('library/fresh', 'v', { layers: [randomBytes(512)] });
    await twoReplicas(async (a, b) => {
      expect((await get(a.url, '/v2/library/fresh/manifests/v')).digest).toBe(v1.digest);
      // B reads the shared index once and memoizes the tag.
      expect(await get(b.url, '/v2/library/fresh/manifests/v')).toMatchObject({ status: 200, digest: v1.digest, cache: 'HIT' });
      expect(await get(b.url, '/v2/library/fresh/manifests/v')).toMatchObject({ status: 200, digest: v1.digest });

      // The upstream moves the tag; A's TTL runs out, A revalidates and writes the new digest.
      const v2 = up.addImage('library/fresh', 'v', { layers: [randomBytes(512)] });
      a.advance(2 * 60_000);
      expect((await get(a.url, '/v2/library/fresh/manifests/v')).digest).toBe(v2.digest);
      const before = upstreamGets('library/fresh');

      // B's clock has not moved: its memo entry is fresh, yet B answers the new digest, from the index.
      const seen = await eventually(() => get(b.url, '/v2/library/fresh/manifests/v'), (r) => r.digest === v2.digest);
      expect(seen).toMatchObject({ status: 200, digest: v2.digest, cache: 'HIT' });
      expect(upstreamGets('library/fresh')).toBe(before);
    });
  });

  test('an image evicted via replica A is no longer served by replica B from memory', async () => {
    const img = up.addImage('library/evicted', 'v', { layers: [randomBytes(512)] });
    const users = makeHtpasswd({ alice: 'pw-alice' });
    await twoReplicas(async (a, b) => {
      await get(a.url, '/v2/library/evicted/manifests/v', ALICE);
      expect(await get(b.url, '/v2/library/evicted/manifests/v', ALICE)).toMatchObject({ digest: img.digest, cache: 'HIT' });
      const evict = await request(`${a.url}/v2/library/evicted/manifests/v`, { method: 'DELETE', headers: { authorization: ALICE } });
      await evict.body.dump();
      expect(evict.statusCode).toBe(202);
      const before = upstreamGets('library/evicted');

      // B forgot the tag: it reads the index, finds nothing and fetches from the upstream again.
      const seen = await eventually(() => get(b.url, '/v2/library/evicted/manifests/v', ALICE), (r) => r.cache === 'MISS');
      expect(seen).toMatchObject({ status: 200, digest: img.digest, cache: 'MISS' });
      expect(upstreamGets('library/evicted')).toBe(before + 1);
    }, { MIRROR_AUTH_HTPASSWD: users.file, MIRROR_AUTH_ADMINS: 'alice' }).finally(() => users.remove());
  });

  test('a lost LISTEN connection drops the whole memo: the next GET reads the index', async () => {
    const v1 = up.addImage('library/cut', 'v', { layers: [randomBytes(512)] });
    const v2 = up.addImage('library/cut', 'w', { layers: [randomBytes(512)] });
    await twoReplicas(async (a, b, url) => {
      await get(a.url, '/v2/library/cut/manifests/v');
      await get(a.url, '/v2/library/cut/manifests/w');
      expect((await get(b.url, '/v2/library/cut/manifests/v')).digest).toBe(v1.digest);
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        // Moved behind every replica's back (no NOTIFY): B still answers from its memo.
        await admin.query(`UPDATE tags SET digest = $1 WHERE tag = 'v' AND repo LIKE '%library/cut'`, [v2.digest]);
        expect((await get(b.url, '/v2/library/cut/manifests/v')).digest).toBe(v1.digest);
        // Cut the replicas' LISTEN connections: each drops its memo (and listens again).
        const cut = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'registry-mirror-listen' AND datname = current_database()`);
        expect(cut.rowCount).toBe(2);
        const seen = await eventually(() => get(b.url, '/v2/library/cut/manifests/v'), (r) => r.digest === v2.digest);
        expect(seen).toMatchObject({ status: 200, digest: v2.digest });
      } finally {
        await admin.end();
      }
    });
  });
});
