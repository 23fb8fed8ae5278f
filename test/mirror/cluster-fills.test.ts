/**
 * Issue 13: three replicas on one bucket and one database fetch a blob from the upstream
 * once for the whole cluster. The replica that claims the fill (advisory lock + fills row)
 * fetches; clients of the others stream the bytes from it as they arrive (the signed
 * internal endpoint); a fill that fails verification cuts every stream and caches nothing;
 * a claim whose owner died is taken over by the next request.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fillPath, signPeerRequest, SIGNATURE_TTL_MS } from '../../src/proxy/cluster-auth.js';
import { LOCK_SPACE, digestLockKey } from '../../src/storage/pg-lock-session.js';
import { s3MirrorEnv, startS3, type S3TestStore } from '../helpers/ceph.js';
import { CLUSTER_SECRET, startReplicas, type Replica } from '../helpers/cluster.js';
import { MEDIA_TYPES, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startMirrorApp } from '../helpers/mirror-app.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { rawRequest } from '../hostile/raw-http.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let s3: S3TestStore;
let server: TestPostgres;
let up: FakeUpstream;
let replicas: Replica[];
let dbUrl: string;

beforeAll(async () => {
  [s3, server, up] = await Promise.all([startS3(), startPostgres(), startFakeUpstream({ auth: 'none', redirectBlobs: false })]);
  const bucket = await s3.createBucket();
  dbUrl = await server.createDatabase();
  replicas = await startReplicas(3, up.url, {
    MIRROR_INDEX_DRIVER: 'postgres', MIRROR_INDEX_URL: dbUrl, MIRROR_INDEX_POOL_SIZE: '4',
    ...s3MirrorEnv(s3, bucket, `${s3.freshPrefix()}cluster/`),
  });
}, 120_000);
afterAll(async () => {
  await Promise.all((replicas ?? []).map((r) => r.close()));
  await up?.close();
  await server?.stop();
  await s3?.stop();
});

/** Upstream GETs of this blob's bytes. */
const upstreamGets = (digest: string) => up.count({ method: 'GET', kind: 'blob', path: new RegExp(digest) });

/** Which replica holds a fill of this digest right now, if any. */
const filler = (digest: string) => replicas.find((r) => r.core.namespace.fillOf(digest) !== undefined);

async function waitFor<T>(what: string, check: () => T | undefined, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Pull {
  status: number;
  cache: string | undefined;
  /** The whole body arrived (the stream ended, not cut). */
  complete: boolean;
  bytes: Buffer;
  /** What the filling replica had received from the upstream when this client got its first byte. */
  upstreamBytesAtFirstByte: number | undefined;
}

/** GETs a blob through a replica, reading the body to its end or to a cut. */
async function pull(base: string, name: string, digest: string, onFirstByte?: () => number | undefined): Promise<Pull> {
  const res = await request(`${base}/v2/${name}/blobs/${digest}`);
  const chunks: Buffer[] = [];
  let first: number | undefined;
  let complete = true;
  try {
    for await (const chunk of res.body) {
      if (chunks.length === 0) first = onFirstByte?.();
      chunks.push(chunk as Buffer);
    }
  } catch {
    complete = false;
  }
  return { status: res.statusCode, cache: res.headers['x-cache'] as string | undefined, complete, bytes: Buffer.concat(chunks), upstreamBytesAtFirstByte: first };
}

describe('one upstream GET per blob across three replicas', () => {
  test('10 clients over 3 replicas, one cold 8 MiB blob: 1 upstream GET, all 10 get the exact bytes, the other replicas\' clients before the fill ends', async () => {
    const bytes = randomBytes(8 * 1024 * 1024);
    up.addImage('library/herd', undefined, { layers: [bytes] });
    const digest = sha256(bytes);
    // ~1.6 s from the upstream: long enough for every client to join while it runs.
    up.faults.throttle = { bytesPerChunk: 256 * 1024, intervalMs: 50 };
    try {
      const received = () => filler(digest)?.core.namespace.fillOf(digest)?.fill.received;
      const pulls = await Promise.all(Array.from({ length: 10 }, (_, i) => pull(replicas[i % 3]!.url, 'library/herd', digest, received)));
      expect(upstreamGets(digest)).toBe(1);
      for (const p of pulls) {
        expect(p.status).toBe(200);
        expect(p.complete).toBe(true);
        expect(sha256(p.bytes)).toBe(digest);
      }
      const owners = replicas.filter((r) => r.core.metrics.upstreamRequests.blob_get === 1);
      expect(owners).toHaveLength(1);
      const others = replicas.map((r, i) => ({ r, i })).filter(({ r }) => r !== owners[0]);
      for (const { r, i } of others) {
        // Every client of a non-filling replica streamed from the owner, not the upstream.
        expect(r.core.metrics.upstreamRequests.blob_get).toBe(0);
        expect(r.core.metrics.cluster.peerStreams).toBeGreaterThan(0);
        // ...and had its first bytes while the upstream was still sending.
        const mine = pulls.filter((_, k) => k % 3 === i);
        for (const p of mine) {
          expect(p.upstreamBytesAtFirstByte).toBeDefined();
          expect(p.upstreamBytesAtFirstByte!).toBeLessThan(bytes.length);
        }
      }
      expect(owners[0]!.core.metrics.cluster.peerStreamsServed).toBeGreaterThan(0);
      // Committed once for all: the next pull on any replica is a HIT, still one upstream GET.
      for (const r of replicas) {
        const warm = await pull(r.url, 'library/herd', digest);
        expect(warm.cache).toBe('HIT');
        expect(sha256(warm.bytes)).toBe(digest);
      }
      expect(upstreamGets(digest)).toBe(1);
      const metrics = await request(`${owners[0]!.url}/metrics`);
      const text = await metrics.body.text();
      expect(text).toMatch(/mirror_cluster_peer_streams_total\{direction="sent"\} [1-9]/);
    } finally {
      up.reset();
    }
  }, 60_000);

  test('a Range request on a replica that is not filling is passed to the owner: 206 with the exact bytes, still one upstream GET', async () => {
    const bytes = randomBytes(2 * 1024 * 1024);
    up.addImage('library/ranged', undefined, { layers: [bytes] });
    const digest = sha256(bytes);
    up.faults.throttle = { bytesPerChunk: 128 * 1024, intervalMs: 50 };
    try {
      const first = pull(replicas[0]!.url, 'library/ranged', digest);
      await waitFor('replica 0 to fill', () => replicas[0]!.core.namespace.fillOf(digest)?.fill.received);
      const res = await request(`${replicas[1]!.url}/v2/library/ranged/blobs/${digest}`, { headers: { range: 'bytes=1000-1999' } });
      expect(res.statusCode).toBe(206);
      expect(res.headers['content-range']).toBe(`bytes 1000-1999/${bytes.length}`);
      expect(Buffer.from(await res.body.arrayBuffer()).equals(bytes.subarray(1000, 2000))).toBe(true);
      expect(sha256((await first).bytes)).toBe(digest);
      expect(upstreamGets(digest)).toBe(1);
    } finally {
      up.reset();
    }
  }, 60_000);

  test('a fill that fails verification cuts the other replicas\' streams, caches nothing, and the next request refetches', async () => {
    const bytes = randomBytes(2 * 1024 * 1024);
    up.addImage('library/corrupt', undefined, { layers: [bytes] });
    const digest = sha256(bytes);
    up.faults.corrupt.add(digest);
    up.faults.throttle = { bytesPerChunk: 128 * 1024, intervalMs: 50 };
    try {
      const first = pull(replicas[0]!.url, 'library/corrupt', digest);
      await waitFor('replica 0 to fill', () => replicas[0]!.core.namespace.fillOf(digest)?.fill.received);
      const peers = await Promise.all([pull(replicas[1]!.url, 'library/corrupt', digest), pull(replicas[2]!.url, 'library/corrupt', digest)]);
      const own = await first;
      for (const p of [own, ...peers]) {
        // Headers went out (200), then the transfer was cut: never a complete wrong body.
        expect(p.status).toBe(200);
        expect(p.complete).toBe(false);
        expect(p.bytes.length).toBeLessThan(bytes.length);
      }
      expect(replicas[1]!.core.metrics.cluster.peerStreams).toBeGreaterThan(0);
      expect(upstreamGets(digest)).toBe(1);
      expect(await replicas[0]!.core.store.stat(digest)).toBeUndefined();
      expect(await replicas[0]!.core.ports.blobs.getBlob(digest)).toBeUndefined();
    } finally {
      up.reset();
    }
    const again = await pull(replicas[2]!.url, 'library/corrupt', digest);
    expect(again).toMatchObject({ status: 200, complete: true, cache: 'MISS' });
    expect(sha256(again.bytes)).toBe(digest);
    expect(upstreamGets(digest)).toBe(1); // the log was reset: this is the refetch
  }, 60_000);

  test('a filler whose lock session dies mid-blob and whose upstream is cut leaves a stale row: the next request on another replica refetches a complete, verified blob', async () => {
    const bytes = randomBytes(2 * 1024 * 1024);
    up.addImage('library/killed', undefined, { layers: [bytes] });
    const digest = sha256(bytes);
    await withAdmin(async (admin) => {
      up.faults.throttle = { bytesPerChunk: 128 * 1024, intervalMs: 50 };
      up.faults.cutAfter.set(digest, 1024 * 1024);
      try {
        const first = pull(replicas[0]!.url, 'library/killed', digest);
        await waitFor('replica 0 to fill', () => replicas[0]!.core.namespace.fillOf(digest)?.fill.received);
        // The owner's lock connection goes, as with SIGKILL: the server releases its locks.
        const { rows: holders } = await admin.query(`SELECT a.application_name AS app, pg_terminate_backend(l.pid) AS done
          FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.classid = $1::int4::oid AND l.objid = $2::int4::oid AND l.objsubid = 2 AND l.granted`,
        [LOCK_SPACE.fill, digestLockKey(digest)]);
        expect(holders).toEqual([{ app: 'registry-mirror-locks', done: true }]);
        expect((await first).complete).toBe(false);
        // A killed owner's row stays behind, naming it.
        await admin.query(`INSERT INTO fills (digest, owner_url, repo, started_at) VALUES ($1, $2, $3, 0)
          ON CONFLICT (digest) DO UPDATE SET owner_url = EXCLUDED.owner_url`, [digest, replicas[0]!.url, 'docker.io/library/killed']);
      } finally {
        up.reset();
      }
      const started = Date.now();
      const next = await pull(replicas[1]!.url, 'library/killed', digest);
      expect(next).toMatchObject({ status: 200, complete: true });
      expect(sha256(next.bytes)).toBe(digest);
      expect(upstreamGets(digest)).toBe(1);
      expect(Date.now() - started).toBeLessThan(4000); // the free lock is taken at once, no waiting
      // The new owner's row goes with its fill (right after the commit the client's last byte waited for).
      await waitForAsync('the fills row to go', async () => (await fillRows(admin, digest)) === 0);
    });
  }, 60_000);
});

describe('eager prefetch in a cluster', () => {
  test('a layer whose fill another replica claims is not prefetched; the others are', async () => {
    const [held, free] = [randomBytes(64 * 1024), randomBytes(64 * 1024)];
    const img = up.addImage('library/prefetched', 'v1', { layers: [held, free] });
    const [heldDigest, freeDigest] = [sha256(held), sha256(free)];
    await withAdmin(async (admin) => {
      // Another replica's claim: the lock of that digest's fill, held elsewhere.
      await admin.query('SELECT pg_advisory_lock($1::int4, $2::int4)', [LOCK_SPACE.fill, digestLockKey(heldDigest)]);
      const res = await request(`${replicas[1]!.url}/v2/library/prefetched/manifests/v1`, { headers: { accept: MEDIA_TYPES.oci.manifest } });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
      await waitFor('the free layer and the config to be prefetched', () => upstreamGets(freeDigest) === 1 && upstreamGets(img.config) === 1);
      await new Promise((r) => setTimeout(r, 300));
      expect(upstreamGets(heldDigest)).toBe(0);
    });
    up.reset();
  }, 30_000);
});

describe('the internal endpoint, attacked', () => {
  test('without, with a wrong, expired or other digest\'s signature, a junk digest, traversal, a huge header: no 5xx, no bytes; signed: the fill, ranges too', async () => {
    const bytes = randomBytes(1024 * 1024);
    up.addImage('library/internal', undefined, { layers: [bytes] });
    const digest = sha256(bytes);
    // The fill stays in progress (stalled) while the endpoint is attacked.
    up.faults.stallAfter.set(digest, 256 * 1024);
    const client = pull(replicas[0]!.url, 'library/internal', digest);
    try {
      await waitFor('replica 0 to fill', () => (replicas[0]!.core.namespace.fillOf(digest)?.fill.received ?? 0) >= 256 * 1024);
      const port = Number(new URL(replicas[0]!.url).port);
      const path = fillPath(digest);
      const ask = (target: string, headers: Array<[string, string]> = [], method = 'GET') => rawRequest(port, { method, target, headers });
      const refused = [
        await ask(path),
        await ask(path, [['Authorization', signPeerRequest('another-secret-of-at-least-32-chars!!', 'GET', path)]]),
        await ask(path, [['Authorization', signPeerRequest(CLUSTER_SECRET, 'GET', path, Date.now() - 2 * SIGNATURE_TTL_MS)]]),
        await ask(path, [['Authorization', signPeerRequest(CLUSTER_SECRET, 'GET', fillPath(sha256(Buffer.from('other'))))]]),
        await ask(path, [['Authorization', signPeerRequest(CLUSTER_SECRET, 'GET', path)]], 'HEAD'),
        await ask(path, [['Authorization', `Cluster ${Date.now() + 10_000}.${'0'.repeat(64)}`]]),
        await ask(path, [['Authorization', 'Basic YWxpY2U6c2VjcmV0']]),
        await ask(path, [['Authorization', `Cluster ${'9'.repeat(15)}.${'a'.repeat(64)}`]]),
        await ask(path, [['Authorization', signPeerRequest(CLUSTER_SECRET, 'GET', path) + 'x'.repeat(20_000)]]),
        await ask(path, [['X-Filler', 'y'.repeat(70_000)]]),
        await ask('/internal/v1/fills/sha256:zzz', [['Authorization', signPeerRequest(CLUSTER_SECRET, 'GET', '/internal/v1/fills/sha256:zzz')]]),
        await ask('/internal/v1/fills/..%2F..%2Fv2%2F', [['Authorization', signPeerRequest(CLUSTER_SECRET, 'GET', '/internal/v1/fills/..%2F..%2Fv2%2F')]]),
        await ask(`/internal/v1/fills/../../v2/library/internal/blobs/${digest}`, [['Authorization', signPeerRequest(CLUSTER_SECRET, 'GET', path)]]),
        await ask(`/internal/v1/fills/${digest}/../${digest}`, [['Authorization', signPeerRequest(CLUSTER_SECRET, 'GET', path)]]),
      ];
      for (const [i, r] of refused.entries()) {
        expect(r.status, `request ${i}`).toBeGreaterThanOrEqual(400);
        expect(r.status).toBeLessThan(500);
        expect(r.headers['content-type'] ?? '').not.toContain('octet-stream');
        expect(r.body.includes(bytes.subarray(0, 64))).toBe(false);
      }
      expect(refused.slice(0, 8).map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 401, 401, 401]);
      // Signed for this very path: the in-progress fill, a range of it too (206).
      const ranged = await ask(path, [['Authorization', signPeerRequest(CLUSTER_SECRET, 'GET', path)], ['Range', 'bytes=100-199']]);
      expect(ranged.status).toBe(206);
      expect(ranged.headers['content-range']).toBe(`bytes 100-199/${bytes.length}`);
      expect(ranged.body.equals(bytes.subarray(100, 200))).toBe(true);
      // A digest with no fill here: 404.
      const none = fillPath(sha256(Buffer.from('nothing')));
      expect((await ask(none, [['Authorization', signPeerRequest(CLUSTER_SECRET, 'GET', none)]])).status).toBe(404);
      expect(await replicas[0]!.core.metrics.cluster.peerStreamsServed).toBeGreaterThan(0);
    } finally {
      up.reset();
      await client;
    }
  }, 60_000);

  test('a fills row naming an address outside cluster.peers is never dialled: the replica fetches the blob itself', async () => {
    const bytes = randomBytes(64 * 1024);
    up.addImage('library/outsider', undefined, { layers: [bytes] });
    const digest = sha256(bytes);
    let connections = 0;
    const trap = createServer((socket) => { connections++; socket.destroy(); });
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
    const trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}`;
    try {
      await withAdmin(async (admin) => {
        // Someone holds the claim (not a replica) and the row names the trap.
        await admin.query('SELECT pg_advisory_lock($1::int4, $2::int4)', [LOCK_SPACE.fill, digestLockKey(digest)]);
        await admin.query('INSERT INTO fills (digest, owner_url, repo, started_at) VALUES ($1, $2, $3, 0)', [digest, trapUrl, 'docker.io/library/outsider']);
        const before = replicas[1]!.core.metrics.cluster.duplicateFills;
        const res = await pull(replicas[1]!.url, 'library/outsider', digest);
        expect(res).toMatchObject({ status: 200, complete: true });
        expect(res.bytes.equals(bytes)).toBe(true);
        expect(upstreamGets(digest)).toBe(1);
        expect(replicas[1]!.core.metrics.cluster.duplicateFills).toBe(before + 1);
      });
      expect(connections).toBe(0);
    } finally {
      await new Promise<void>((resolve) => trap.close(() => resolve()));
    }
  }, 60_000);

  test('is an unknown route (404) on a mirror without cluster.*', async () => {
    const single = await startMirrorApp(up.url);
    try {
      const path = fillPath(sha256(Buffer.from('x')));
      const res = await request(`${single.url}${path}`, { headers: { authorization: signPeerRequest(CLUSTER_SECRET, 'GET', path) } });
      expect(res.statusCode).toBe(404);
      expect(await res.body.text()).toContain('no such endpoint');
    } finally {
      await single.close();
    }
  });
});

async function withAdmin(fn: (admin: pg.Client) => Promise<void>): Promise<void> {
  const admin = new pg.Client({ connectionString: dbUrl });
  await admin.connect();
  try {
    await fn(admin);
  } finally {
    await admin.end();
  }
}

async function fillRows(admin: pg.Client, digest: string): Promise<number> {
  return (await admin.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM fills WHERE digest = $1', [digest])).rows[0]!.n;
}

async function waitForAsync(what: string, check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
