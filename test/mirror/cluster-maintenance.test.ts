/**
 * Issue 13: maintenance on replicas sharing one S3 bucket (radosgw, or the S3_TEST_* store)
 * and one PostgreSQL index (or PG_TEST_URL) never cuts a transfer. A replica sending a blob
 * pins it (storage/pg-blob-pins.ts); prune and gc on another replica skip and count it,
 * keeping its row and object, and take it on the next run once the transfer ended or its
 * replica died. Prune, gc and retention run under one lease (admin/maintenance-lease.ts):
 * `registry-mirror gc` on a second replica is refused (exit 75) while another holds it,
 * and a long run renews it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openDeletePins } from '../../src/admin/delete-pins.js';
import { evictImage } from '../../src/admin/evict.js';
import { collectGarbage } from '../../src/admin/gc.js';
import { startRetention } from '../../src/admin/retention.js';
import { AccessBatcher } from '../../src/storage/access-batcher.js';
import { OpenBlobs } from '../../src/storage/open-blobs.js';
import { MAINTENANCE_LEASE, withMaintenanceLease } from '../../src/admin/maintenance-lease.js';
import { prune } from '../../src/admin/prune.js';
import { silentLogger } from '../../src/log/logger.js';
import { parseDigest } from '../../src/oci/digest.js';
import { s3MirrorEnv, startS3, type S3TestStore } from '../helpers/ceph.js';
import { cli } from '../helpers/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { makeHtpasswd } from '../helpers/htpasswd.js';
import { startMirror } from '../helpers/mirror.js';
import { mirrorAppConfig, startMirrorAppWith, type MirrorApp } from '../helpers/mirror-app.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { signIn } from '../ui/housekeeping-helpers.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
/** Far more than loopback socket buffers hold: a client that does not read keeps the send open. */
const LARGE = 24 * 1024 * 1024;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let pg: TestPostgres;
let s3: S3TestStore;
let up: FakeUpstream;
let env: Record<string, string>;
let a: MirrorApp;
let b: MirrorApp;
let htpasswd: ReturnType<typeof makeHtpasswd>;
const ALICE = `Basic ${Buffer.from('alice:secret-pw').toString('base64')}`;

beforeAll(async () => {
  [pg, s3, up] = await Promise.all([startPostgres(), startS3(), startFakeUpstream()]);
  const bucket = await s3.createBucket();
  htpasswd = makeHtpasswd({ alice: 'secret-pw' });
  env = {
    MIRROR_INDEX_DRIVER: 'postgres', MIRROR_INDEX_URL: await pg.createDatabase(), MIRROR_INDEX_POOL_SIZE: '2',
    ...s3MirrorEnv(s3, bucket, `${s3.freshPrefix()}mirror/`),
    MIRROR_LOCAL_NAMESPACES: 'team/*', MIRROR_AUTH_HTPASSWD: htpasswd.file,
  };
  [a, b] = await Promise.all([startMirrorAppWith(mirrorAppConfig(up.url, env)), startMirrorAppWith(mirrorAppConfig(up.url, env))]);
}, 120_000);
afterAll(async () => {
  await a?.close();
  await b?.close();
  await up?.close();
  await s3?.stop();
  await pg?.stop();
  htpasswd?.remove();
});

/** A mirrored blob, fetched once through replica A so it sits in the bucket and the index. */
async function cachedBlob(name: string, tag?: string): Promise<{ bytes: Buffer; digest: string; path: string }> {
  const bytes = randomBytes(LARGE);
  up.addImage(name, tag, { layers: [bytes] });
  const digest = sha256(bytes);
  const path = `/v2/${name}/blobs/${digest}`;
  const res = await request(`${a.url}${path}`);
  expect(sha256(Buffer.from(await res.body.arrayBuffer()))).toBe(digest);
  return { bytes, digest, path };
}

/** A GET whose body is not read yet: the replica's send stays open until read(). */
async function slowGet(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  return { status: res.statusCode, headers: res.headers, read: async () => Buffer.from(await res.body.arrayBuffer()) };
}

/** Prune everything mirrored on replica B, as its CLI or console does (with the cluster's pins). */
async function pruneAllOnB() {
  const pins = await openDeletePins(b.config, silentLogger);
  try {
    return await prune(b.ports.maintenance, b.store, { maxSize: 0, pins });
  } finally {
    await pins?.close();
  }
}

/** Until the replica's last send of the blob has given its pin back (unlocks are not awaited by the send). */
async function pinReleased(digest: string): Promise<void> {
  const pins = (await openDeletePins(b.config, silentLogger))!;
  try {
    for (let i = 0; i < 100; i++) {
      const unlock = await pins.lock(digest);
      if (unlock) return await unlock();
      await sleep(20);
    }
    throw new Error('the pin was never released');
  } finally {
    await pins.close();
  }
}

describe('maintenance across replicas', () => {
  test('prune on replica B while replica A streams the blob: no cut; skipped and counted, kept; the next prune removes it', async () => {
    const { digest, path } = await cachedBlob('library/big');
    const slow = await slowGet(`${a.url}${path}`);
    expect(slow.status).toBe(200);
    expect(slow.headers['x-cache']).toBe('HIT');

    const during = await pruneAllOnB();
    expect(during.evicted).toBe(0);
    expect(during.skippedInUse).toBe(1);
    expect(await b.ports.blobs.getBlob(digest)).toBeDefined();
    expect(await b.store.stat(digest)).toBeDefined();

    const body = await slow.read();
    expect(body.length).toBe(LARGE);
    expect(sha256(body)).toBe(digest);

    await pinReleased(digest);
    const after = await pruneAllOnB();
    expect(after.evicted).toBe(1);
    expect(await b.ports.blobs.getBlob(digest)).toBeUndefined();
    expect(await b.store.stat(digest)).toBeUndefined();
    // A clean miss afterwards: fetched again, complete.
    const again = await request(`${a.url}${path}`);
    expect(again.headers['x-cache']).toBe('MISS');
    expect(sha256(Buffer.from(await again.body.arrayBuffer()))).toBe(digest);
  }, 120_000);

  test('a pull that arrives while a prune deletes the blob waits for the delete, then is a clean miss: fetched again, complete', async () => {
    const { digest, path } = await cachedBlob('library/racing');
    const pins = (await openDeletePins(b.config, silentLogger))!;
    try {
      // What prune does for one blob: pin, delete the row, delete the object, unpin.
      const unlock = (await pins.lock(digest))!;
      const pull = request(`${a.url}${path}`).then(async (res) => ({
        status: res.statusCode, cache: res.headers['x-cache'], body: Buffer.from(await res.body.arrayBuffer()),
      }));
      await sleep(100);
      await b.ports.blobs.deleteBlob(digest);
      await sleep(100);
      expect(await b.store.delete(digest)).toBe(true);
      await unlock();
      const got = await pull;
      expect(got.status).toBe(200);
      expect(got.cache).toBe('MISS');
      expect(sha256(got.body)).toBe(digest);
    } finally {
      await pins.close();
    }
  }, 60_000);

  test('gc on replica B of a pushed, unreferenced blob past its grace while replica A streams it: no cut; the next gc removes it', async () => {
    const bytes = randomBytes(LARGE);
    const digest = sha256(bytes);
    const writer = await b.store.createWriter(parseDigest(digest));
    await writer.write(bytes);
    await writer.commit(parseDigest(digest), bytes.length);
    await writer.close();
    const long = Date.now() - 2 * HOUR;
    await b.ports.repositories.ensureRepository('team/app', 'local', null, long);
    await b.ports.blobs.putBlob('team/app', { digest, size: bytes.length, origin: 'push' }, long);

    const slow = await slowGet(`${a.url}/v2/team/app/blobs/${digest}`, { authorization: ALICE });
    expect(slow.status).toBe(200);
    const gc = async () => {
      const pins = await openDeletePins(b.config, silentLogger);
      try {
        return await collectGarbage(b.ports.maintenance, b.store, { graceMs: HOUR, pins });
      } finally {
        await pins?.close();
      }
    };
    const during = await gc();
    expect(during.blobs).toBe(0);
    expect(during.skippedInUse).toBe(1);
    expect(await b.store.stat(digest)).toBeDefined();
    expect(await b.ports.blobs.getBlob(digest)).toBeDefined();

    const body = await slow.read();
    expect(sha256(body)).toBe(digest);

    await pinReleased(digest);
    const after = await gc();
    expect(after.blobs).toBe(1);
    expect(await b.store.stat(digest)).toBeUndefined();
  }, 120_000);

  test('a replica killed while it streams a blob: its pins go with its lock session, and the next prune removes the blob', async () => {
    const { digest, path } = await cachedBlob('library/crash');
    const dataDir = mkdtempSync(join(tmpdir(), 'mirror-killed-'));
    const killed = await startMirror({ upstreamUrl: up.url, dataDir, env: { ...env, MIRROR_LOG_ACCESS: 'false' } });
    try {
      const slow = await slowGet(`${killed.url}${path}`);
      expect(slow.status).toBe(200);
      expect((await pruneAllOnB()).skippedInUse).toBe(1);
      await killed.kill();
      // The server notices the closed connection at once: nothing has to expire.
      let summary = await pruneAllOnB();
      for (let i = 0; i < 50 && summary.evicted === 0; i++) {
        await sleep(100);
        summary = await pruneAllOnB();
      }
      expect(summary.evicted).toBe(1);
      expect(await b.store.stat(digest)).toBeUndefined();
    } finally {
      await killed.kill();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  test('a push committing a blob while a gc on another replica deletes it waits for the delete, then stores it anew', async () => {
    const bytes = randomBytes(4096);
    const digest = sha256(bytes);
    const pins = (await openDeletePins(b.config, silentLogger))!;
    let put: Promise<{ statusCode: number; at: number }> | undefined;
    try {
      const unlock = (await pins.lock(digest))!;
      expect(unlock).toBeDefined();
      put = request(`${a.url}/v2/team/app/blobs/uploads/?digest=${digest}`, {
        method: 'POST', body: bytes, headers: { authorization: ALICE, 'content-type': 'application/octet-stream' },
      }).then(async (res) => { await res.body.arrayBuffer(); return { statusCode: res.statusCode, at: Date.now() }; });
      // Well past the commit's own time, well within the pin's retry window (2 s).
      await sleep(700);
      const released = Date.now();
      await unlock();
      const done = await put;
      expect(done.statusCode).toBe(201);
      expect(done.at).toBeGreaterThanOrEqual(released);
    } finally {
      await pins.close();
    }
    const res = await request(`${a.url}/v2/team/app/blobs/${digest}`, { headers: { authorization: ALICE } });
    expect(res.statusCode).toBe(200);
    expect(sha256(Buffer.from(await res.body.arrayBuffer()))).toBe(digest);
  }, 60_000);

  test('registry-mirror gc on another replica while one holds the maintenance lease: refused with exit 75; runs once it is released', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mirror-gc-'));
    const cliEnv = { ...env, MIRROR_STORAGE_PATH: dataDir, MIRROR_UPSTREAM_URL: up.url };
    try {
      let finish!: () => void;
      const holding = withMaintenanceLease(a.ports.maintenance, 'prune', () => new Promise<void>((resolve) => { finish = resolve; }));
      await sleep(50);
      const refused = await cli(['gc'], cliEnv);
      expect(refused.code).toBe(75);
      expect(refused.stderr).toContain('gc: another replica is running maintenance (retention, prune or gc)');
      expect(refused.stdout).toBe('');
      finish();
      await holding;
      const ran = await cli(['gc'], cliEnv);
      expect(ran.code).toBe(0);
      expect(JSON.parse(ran.stdout)).toMatchObject({ dryRun: false });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  test('the console\'s prune on a replica while another holds the maintenance lease: 409 saying so', async () => {
    const c = await startMirrorAppWith(mirrorAppConfig(up.url, { ...env, MIRROR_AUTH_ADMINS: 'alice' }));
    let finish!: () => void;
    const holding = withMaintenanceLease(a.ports.maintenance, 'gc', () => new Promise<void>((resolve) => { finish = resolve; }));
    try {
      await sleep(50);
      const admin = await signIn(c.url, 'alice', 'secret-pw');
      const refused = await admin.post('/ui/housekeeping/prune', { max_size: '1', older_than: '' });
      expect(refused.status).toBe(409);
      expect(refused.notice).toContain('another replica is running maintenance');
    } finally {
      finish();
      await holding;
      await c.close();
    }
  }, 60_000);

  test('an admin evicting the image on replica B while replica A streams its layer: the layer keeps its object and row; prune takes it later', async () => {
    const { digest, path } = await cachedBlob('library/evictme', 'latest');
    const manifest = await request(`${a.url}/v2/library/evictme/manifests/latest`);
    expect(manifest.statusCode).toBe(200);
    await manifest.body.arrayBuffer();
    const slow = await slowGet(`${a.url}${path}`);
    expect(slow.status).toBe(200);

    const evicted: string[] = [];
    const off = b.events.on('blob.evicted', (e) => { evicted.push(e.digest!); });
    const summary = await evictImage({
      index: b.ports.maintenance, tags: b.ports.tags, store: b.store, blobs: b.ports.blobs, events: b.events,
      openPins: () => openDeletePins(b.config, silentLogger),
    }, 'docker.io/library/evictme', { kind: 'tag', tag: 'latest' });
    off();
    expect(summary.manifests).toHaveLength(1);
    expect(summary.skippedInUse).toBe(1);
    expect(evicted).not.toContain(digest);
    expect(await b.ports.blobs.getBlob(digest)).toBeDefined();
    expect(await b.store.stat(digest)).toBeDefined();
    expect(sha256(await slow.read())).toBe(digest);

    await pinReleased(digest);
    expect((await pruneAllOnB()).evicted).toBeGreaterThanOrEqual(1);
    expect(await b.store.stat(digest)).toBeUndefined();
  }, 120_000);

  test('retention skips its run while another replica holds the maintenance lease, and evicts once it is released', async () => {
    const bytes = randomBytes(1024);
    const digest = sha256(bytes);
    const writer = await b.store.createWriter(parseDigest(digest));
    await writer.write(bytes);
    await writer.commit(parseDigest(digest), bytes.length);
    await writer.close();
    await b.ports.repositories.ensureRepository('docker.io/library/idle', 'mirror', 'docker.io', Date.now());
    await b.ports.blobs.putBlob('docker.io/library/idle', { digest, size: bytes.length, origin: 'upstream' }, Date.now() - 2 * DAY);

    let finish!: () => void;
    const holding = withMaintenanceLease(a.ports.maintenance, 'gc', () => new Promise<void>((resolve) => { finish = resolve; }));
    await sleep(50);
    const job = startRetention({
      config: { ...b.config.storage.retention, maxSize: 0, maxAgeMs: DAY, intervalMs: HOUR },
      index: b.ports.maintenance, store: b.store, access: new AccessBatcher(b.ports.access), openBlobs: new OpenBlobs(),
      metrics: b.metrics, events: b.events, log: silentLogger, now: Date.now, openPins: () => openDeletePins(b.config, silentLogger),
    });
    try {
      expect(await job.run('start')).toBeUndefined();
      expect(await b.store.stat(digest)).toBeDefined();
      finish();
      await holding;
      const summary = await job.run('manual');
      expect(summary?.evicted).toBeGreaterThanOrEqual(1);
      expect(await b.store.stat(digest)).toBeUndefined();
    } finally {
      await job.stop();
    }
  }, 60_000);

  test('a run longer than the lease TTL keeps the lease (renewed every ttl/3); released at its end', async () => {
    const ttlMs = 300;
    const other = (): Promise<boolean> => b.ports.maintenance.tryLease(MAINTENANCE_LEASE, 'other-replica', ttlMs, Date.now());
    const seen: boolean[] = [];
    await withMaintenanceLease(a.ports.maintenance, 'gc', async () => {
      for (let i = 0; i < 4; i++) {
        await sleep(ttlMs);
        seen.push(await other());
      }
    }, { ttlMs });
    expect(seen).toEqual([false, false, false, false]);
    expect(await other()).toBe(true);
    await b.ports.maintenance.releaseLease(MAINTENANCE_LEASE, 'other-replica');
  }, 30_000);
});
