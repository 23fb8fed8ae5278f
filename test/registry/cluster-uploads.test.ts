/**
 * Issue 13: a push continued on another replica. Three mirrors in this process share one
 * PostgreSQL database and one S3 bucket (radosgw, or the S3_TEST_* store; PG_TEST_URL for
 * an external PostgreSQL); an upload opened on one is continued, cancelled or finished on
 * any other, with the answers a single registry gives (202/204/416, Range, Location), the
 * limits counted across replicas, whole-or-nothing chunks, and nothing left in the bucket
 * once a session ends. A real client (skopeo) pushes through a per-request round-robin.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createCore } from '../../src/core.js';
import { s3MirrorEnv, startS3, type S3TestStore } from '../helpers/ceph.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { tarGzLayer, deterministicBytes } from '../helpers/layers.js';
import { mirrorAppConfig, startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';
import { basicAuth, createOciClient, eventually, imageManifest, makeHtpasswd, MT, sha256, type OciClient } from '../helpers/oci-client.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startRoundRobin } from '../helpers/round-robin.js';
import { skopeoCopy, skopeoInspectDigest } from '../helpers/skopeo.js';

const USERS = { alice: 'secret-a', bob: 'secret-b', carol: 'secret-c', dave: 'secret-d', erin: 'secret-e' } as const;
type User = keyof typeof USERS;
const OCTET = { 'content-type': 'application/octet-stream' };
const HOUR = 3_600_000;

let pg: TestPostgres;
let s3: S3TestStore;
let up: FakeUpstream;
let htpasswd: { file: string; remove(): void };
let bucket: string;
let prefix: string;
let env: Record<string, string>;
const apps: MirrorApp[] = [];

beforeAll(async () => {
  [pg, s3, up] = await Promise.all([startPostgres(), startS3(), startFakeUpstream()]);
  bucket = await s3.createBucket();
  prefix = `${s3.freshPrefix()}cluster/`;
  htpasswd = makeHtpasswd(USERS);
  env = {
    MIRROR_LOCAL_NAMESPACES: 'team/*',
    MIRROR_AUTH_HTPASSWD: htpasswd.file,
    // Replicas behind one balancer accept each other's tokens.
    MIRROR_AUTH_TOKEN_SECRET: randomBytes(32).toString('hex'),
    MIRROR_INDEX_DRIVER: 'postgres',
    MIRROR_INDEX_URL: await pg.createDatabase(),
    MIRROR_INDEX_POOL_SIZE: '4',
    ...s3MirrorEnv(s3, bucket, prefix),
    MIRROR_STORAGE_MAX_UPLOADS_PER_USER: '3',
    // Long: the replicas' own expiry passes remove nothing here; the expiry test runs one with its own clock.
    MIRROR_STORAGE_UPLOAD_EXPIRY: '1h',
  };
  for (let i = 0; i < 3; i++) apps.push(await startMirrorApp(up.url, env));
}, 120_000);

afterAll(async () => {
  for (const app of apps) await app.close();
  await up?.close();
  htpasswd?.remove();
  await s3?.stop();
  await pg?.stop();
});

let n = 0;
const repo = () => `team/cluster-${++n}`;
/** Replica i (0, 1, 2), as `user`. */
const on = (i: number, user: User = 'alice'): OciClient => createOciClient(apps[i]!.url, basicAuth(user, USERS[user]));
/** The path of an upload URL, to send to another replica. */
const pathOf = (location: string) => new URL(location, 'http://replica').pathname;
const withDigest = (location: string, digest: string) => `${pathOf(location)}?digest=${encodeURIComponent(digest)}`;

async function keysUnder(sub: string): Promise<string[]> {
  const out: string[] = [];
  let ContinuationToken: string | undefined;
  do {
    const page = await s3.client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}${sub}`, ContinuationToken }));
    out.push(...(page.Contents ?? []).map((o) => o.Key!));
    ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (ContinuationToken);
  return out;
}

async function multipartsUnder(sub: string): Promise<number> {
  const page = await s3.client().send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${prefix}${sub}` }));
  return (page.Uploads ?? []).length;
}

const uploadId = (location: string) => pathOf(location).split('/').at(-1)!;

async function patch(c: OciClient, location: string, bytes: Buffer, start?: number) {
  const headers: Record<string, string> = { ...OCTET };
  if (start !== undefined) headers['content-range'] = `${start}-${start + bytes.length - 1}`;
  return c.call(pathOf(location), { method: 'PATCH', headers, body: bytes });
}

describe('an upload moves between replicas', () => {
  test('POST on A, PATCH on B, PATCH on C, PUT on A: 201, and every replica serves the verified blob; a manifest pushed on C references it', async () => {
    const name = repo();
    const [a, b, c] = [on(0), on(1), on(2)];
    const first = randomBytes(6 * 1024 * 1024 + 123); // more than one 5 MiB part: a multipart chunk
    const second = randomBytes(4096);
    const loc = await a.startUpload(name);
    const p1 = await patch(b, loc, first, 0);
    expect(p1.status).toBe(202);
    expect(p1.header('range')).toBe(`0-${first.length - 1}`);
    expect(p1.header('docker-upload-uuid')).toBe(uploadId(loc));
    expect(p1.header('location')).toBe(pathOf(loc));
    const p2 = await patch(c, loc, second, first.length);
    expect(p2.status).toBe(202);
    const total = first.length + second.length;
    expect((await a.call(pathOf(loc))).header('range')).toBe(`0-${total - 1}`);
    expect(await keysUnder(`uploads/${uploadId(loc)}/`)).toHaveLength(2);

    const blob = Buffer.concat([first, second]);
    const digest = sha256(blob);
    const put = await a.call(withDigest(loc, digest), { method: 'PUT' });
    expect(put.status).toBe(201);
    expect(put.header('docker-content-digest')).toBe(digest);
    for (const r of [a, b, c]) {
      const got = await r.call(`/v2/${name}/blobs/${digest}`);
      expect(got.status).toBe(200);
      expect(sha256(got.body)).toBe(digest);
    }
    // The chunks are gone; the session too, everywhere.
    expect(await keysUnder(`uploads/${uploadId(loc)}/`)).toEqual([]);
    expect((await b.call(pathOf(loc))).status).toBe(404);

    const config = await c.pushBlob(name, JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const manifest = imageManifest({ config: { ...config, mediaType: MT.config }, layers: [{ mediaType: MT.layer, digest, size: blob.length }] });
    expect((await c.putManifest(name, 'v1', manifest, MT.manifest)).status).toBe(201);
    const pulled = await b.call(`/v2/${name}/manifests/v1`, { headers: { accept: MT.manifest } });
    expect(pulled.status).toBe(200);
    expect(pulled.body.equals(manifest)).toBe(true);

    // gc and prune list the store: only blobs, never an upload's chunks.
    const listed: string[] = [];
    for await (const info of apps[0]!.store.list()) listed.push(info.digest);
    expect(listed).toContain(digest);
    expect(listed.every((d) => /^sha256:[0-9a-f]{64}$/.test(d))).toBe(true);
  }, 60_000);

  test('a chunk out of order on another replica: 416 with the Range and Location to resume from, the session unchanged', async () => {
    const name = repo();
    const [a, b, c] = [on(0), on(1), on(2)];
    const loc = await a.startUpload(name);
    const first = randomBytes(100);
    expect((await patch(a, loc, first, 0)).status).toBe(202);
    const bad = await patch(b, loc, randomBytes(50), 150);
    expect(bad.status).toBe(416);
    expect(bad.header('range')).toBe('0-99');
    expect(bad.header('location')).toBe(pathOf(loc));
    expect((await c.call(pathOf(loc))).header('range')).toBe('0-99');
    expect(await keysUnder(`uploads/${uploadId(loc)}/`)).toHaveLength(1);
    const rest = randomBytes(50);
    expect((await patch(c, loc, rest, 100)).status).toBe(202);
    const blob = Buffer.concat([first, rest]);
    expect((await b.call(withDigest(loc, sha256(blob)), { method: 'PUT' })).status).toBe(201);
    expect((await a.call(`/v2/${name}/blobs/${sha256(blob)}`)).body.equals(blob)).toBe(true);
  });

  test('two PATCHes at one offset on two replicas at once: one 202, one 416; the winner\'s bytes make the blob', async () => {
    const name = repo();
    const loc = await on(0).startUpload(name);
    const x = randomBytes(300_000);
    const y = randomBytes(300_000);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => { open = resolve; });
    // Both requests have read the session (at 0) before either body ends.
    const held = (bytes: Buffer) => Readable.from((async function* () {
      yield bytes.subarray(0, 1000);
      await gate;
      yield bytes.subarray(1000);
    })());
    const send = (i: number, bytes: Buffer) => request(`${apps[i]!.url}${pathOf(loc)}`, {
      method: 'PATCH',
      headers: { ...OCTET, authorization: basicAuth('alice', USERS.alice), 'content-range': `0-${bytes.length - 1}`, 'content-length': String(bytes.length) },
      body: held(bytes),
    });
    const pending = Promise.all([send(1, x), send(2, y)] as const);
    await sleep(500);
    open();
    const [rx, ry] = await pending;
    await Promise.all([rx.body.dump(), ry.body.dump()]);
    expect([rx.statusCode, ry.statusCode].sort()).toEqual([202, 416]);
    const winner = rx.statusCode === 202 ? x : y;
    const loser = rx.statusCode === 202 ? ry : rx;
    expect(loser.headers.range).toBe(`0-${winner.length - 1}`);
    // The loser deleted its own object, not the winner's.
    expect(await keysUnder(`uploads/${uploadId(loc)}/`)).toHaveLength(1);
    const c = on(0);
    expect((await c.call(withDigest(loc, sha256(winner)), { method: 'PUT' })).status).toBe(201);
    expect(sha256((await on(2).call(`/v2/${name}/blobs/${sha256(winner)}`)).body)).toBe(sha256(winner));
  });

  test('a wrong digest at PUT: 400 DIGEST_INVALID, nothing under either digest, the chunks removed, the session ended', async () => {
    const name = repo();
    const [a, b, c] = [on(0), on(1), on(2)];
    const loc = await a.startUpload(name);
    const bytes = randomBytes(2000);
    expect((await patch(b, loc, bytes, 0)).status).toBe(202);
    const wrong = sha256(Buffer.from('something else'));
    const put = await c.call(withDigest(loc, wrong), { method: 'PUT' });
    expect(put.status).toBe(400);
    expect(put.codes()).toEqual(['DIGEST_INVALID']);
    for (const d of [wrong, sha256(bytes)]) {
      expect(await keysUnder(`blobs/sha256/${d.slice(7)}`)).toEqual([]);
      expect((await b.call(`/v2/${name}/blobs/${d}`, { method: 'HEAD' })).status).toBe(404);
    }
    expect(await keysUnder(`uploads/${uploadId(loc)}/`)).toEqual([]);
    const again = await patch(a, loc, randomBytes(10));
    expect(again.status).toBe(404);
    expect(again.codes()).toEqual(['BLOB_UPLOAD_UNKNOWN']);

    // The same for a whole blob in the PUT's body, on another replica than the POST.
    const whole = await a.startUpload(name);
    const monolithic = await b.call(withDigest(whole, wrong), { method: 'PUT', headers: OCTET, body: bytes });
    expect(monolithic.status).toBe(400);
    expect(monolithic.codes()).toEqual(['DIGEST_INVALID']);
    expect(await keysUnder(`blobs/sha256/${wrong.slice(7)}`)).toEqual([]);
    expect(await keysUnder(`blobs/sha256/${sha256(bytes).slice(7)}`)).toEqual([]);
    expect((await c.call(pathOf(whole))).status).toBe(404);
  });
});

describe('sessions are the cluster\'s', () => {
  test('the per-user limit counts every replica\'s sessions; cancelling one on another replica frees a place', async () => {
    const name = repo();
    const mine = [await on(0, 'carol').startUpload(name), await on(1, 'carol').startUpload(name), await on(2, 'carol').startUpload(name)];
    const refused = await on(0, 'carol').call(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
    expect(refused.status).toBe(429);
    expect(refused.codes()).toEqual(['TOOMANYREQUESTS']);
    expect(refused.json<{ errors: Array<{ message: string }> }>().errors[0]!.message).toMatch(/per-user limit/);
    expect(Number(refused.header('retry-after'))).toBeGreaterThan(0);
    // Another user is not limited by carol's sessions.
    const bobs = await on(1, 'bob').startUpload(name);
    expect((await on(2, 'carol').call(pathOf(mine[0]!), { method: 'DELETE' })).status).toBe(204);
    const again = await on(1, 'carol').call(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
    expect(again.status).toBe(202);
    for (const loc of [mine[1]!, mine[2]!, again.header('location'), bobs]) {
      expect((await on(0).call(pathOf(loc), { method: 'DELETE' })).status).toBe(204);
    }
  });

  test('cancelled on another replica: the next PATCH is 404 on every replica and the chunks are gone', async () => {
    const name = repo();
    const loc = await on(0).startUpload(name);
    expect((await patch(on(1), loc, randomBytes(500), 0)).status).toBe(202);
    expect((await on(2).call(pathOf(loc), { method: 'DELETE' })).status).toBe(204);
    for (const i of [0, 1, 2]) {
      const r = await patch(on(i), loc, randomBytes(10), 500);
      expect(r.status).toBe(404);
      expect(r.codes()).toEqual(['BLOB_UPLOAD_UNKNOWN']);
    }
    expect(await keysUnder(`uploads/${uploadId(loc)}/`)).toEqual([]);
  });

  test('a session of one repository is unknown under another, on every replica', async () => {
    const name = repo();
    const other = repo();
    const loc = await on(0).startUpload(name);
    const bytes = randomBytes(10);
    expect((await patch(on(0), loc, bytes, 0)).status).toBe(202);
    const elsewhere = pathOf(loc).replace(name, other);
    for (const i of [0, 1, 2]) {
      const c = on(i);
      expect((await c.call(elsewhere)).status).toBe(404);
      expect((await c.call(elsewhere, { method: 'PATCH', headers: OCTET, body: randomBytes(5) })).status).toBe(404);
      expect((await c.call(`${elsewhere}?digest=${sha256(bytes)}`, { method: 'PUT' })).status).toBe(404);
      expect((await c.call(elsewhere, { method: 'DELETE' })).status).toBe(404);
    }
    expect((await on(2).call(pathOf(loc))).header('range')).toBe('0-9');
    expect((await on(1).call(withDigest(loc, sha256(bytes)), { method: 'PUT' })).status).toBe(201);
    expect((await on(0).call(`/v2/${other}/blobs/${sha256(bytes)}`)).status).toBe(404);
  });

  test('a client cut mid-PATCH changes nothing: the size stays, no object or multipart upload is left', async () => {
    const name = repo();
    const loc = await on(0, 'dave').startUpload(name);
    const first = randomBytes(32);
    expect((await patch(on(0, 'dave'), loc, first, 0)).status).toBe(202);
    // Cut after more than one part has gone to the store as a multipart upload.
    const replica = new URL(apps[1]!.url);
    const socket = connect(Number(replica.port), replica.hostname);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(`PATCH ${pathOf(loc)} HTTP/1.1\r\nHost: ${replica.host}\r\nAuthorization: ${basicAuth('dave', USERS.dave)}\r\n`
      + `Content-Type: application/octet-stream\r\nContent-Range: 32-${32 + 12 * 1024 * 1024 - 1}\r\nContent-Length: ${12 * 1024 * 1024}\r\n\r\n`);
    socket.write(randomBytes(7 * 1024 * 1024));
    await sleep(1000);
    socket.destroy();
    const id = uploadId(loc);
    expect(await eventually(async () => (await on(2, 'dave').call(pathOf(loc))).header('range') === '0-31'
      && (await keysUnder(`uploads/${id}/`)).length === 1 && await multipartsUnder(`uploads/${id}/`) === 0, 15_000, 200)).toBe(true);
    expect((await on(2, 'dave').call(withDigest(loc, sha256(first)), { method: 'PUT' })).status).toBe(201);
    expect(await keysUnder(`uploads/${id}/`)).toEqual([]);
  }, 30_000);

  test('a client cut mid-PUT of a whole blob leaves the session open and empty, and nothing under the digest', async () => {
    const name = repo();
    const loc = await on(0, 'dave').startUpload(name);
    const blob = randomBytes(100_000);
    const replica = new URL(apps[1]!.url);
    const socket = connect(Number(replica.port), replica.hostname);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(`PUT ${withDigest(loc, sha256(blob))} HTTP/1.1\r\nHost: ${replica.host}\r\nAuthorization: ${basicAuth('dave', USERS.dave)}\r\n`
      + `Content-Type: application/octet-stream\r\nContent-Length: ${blob.length}\r\n\r\n`);
    socket.write(blob.subarray(0, 40_000));
    await sleep(300);
    socket.destroy();
    await sleep(300);
    const status = await on(2, 'dave').call(pathOf(loc));
    expect(status.status).toBe(204);
    expect(status.header('range')).toBe('0-0');
    expect((await on(2, 'dave').call(`/v2/${name}/blobs/${sha256(blob)}`, { method: 'HEAD' })).status).toBe(404);
    // The client sends it again, whole: it completes.
    expect((await on(2, 'dave').call(withDigest(loc, sha256(blob)), { method: 'PUT', headers: OCTET, body: blob })).status).toBe(201);
  });

  test('expiry on any replica removes stale sessions and their chunks, keeps renewed ones, and sweeps objects no session names', async () => {
    const name = repo();
    const stale = await on(0, 'erin').startUpload(name);
    const renewed = await on(0, 'erin').startUpload(name);
    expect((await patch(on(0, 'erin'), stale, randomBytes(64), 0)).status).toBe(202);
    // Replica B's clock is half an hour on: the renewed session was touched then.
    apps[1]!.advance(HOUR / 2);
    try {
      expect((await patch(on(1, 'erin'), renewed, randomBytes(64), 0)).status).toBe(202);
    } finally {
      // Back in step: replicas check each other's token times.
      apps[1]!.advance(-HOUR / 2);
    }
    // A replica that died between writing a chunk and recording it left this behind.
    const orphan = `uploads/${randomUUID()}/0000000000000000-deadbeef0000`;
    await s3.client().send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}${orphan}`, Body: Buffer.from('left over') }));
    expect(await keysUnder(orphan)).toHaveLength(1);

    // Another replica's expiry pass, 75 minutes after the sessions opened.
    const sweeper = await createCore(mirrorAppConfig(up.url, env), { now: () => Date.now() + HOUR + HOUR / 4 });
    try {
      expect(await sweeper.namespace.expireUploads()).toBeGreaterThanOrEqual(1);
    } finally {
      await sweeper.close();
      rmSync(sweeper.config.storage.path, { recursive: true, force: true });
    }
    const gone = await on(2, 'erin').call(pathOf(stale));
    expect(gone.status).toBe(404);
    expect(await keysUnder(`uploads/${uploadId(stale)}/`)).toEqual([]);
    expect(await keysUnder(orphan)).toEqual([]);
    expect((await on(2, 'erin').call(pathOf(renewed))).header('range')).toBe('0-63');
    expect(await keysUnder(`uploads/${uploadId(renewed)}/`)).toHaveLength(1);
    expect((await on(2, 'erin').call(pathOf(renewed), { method: 'DELETE' })).status).toBe(204);
  });
});

describe('a real client', () => {
  test('skopeo pushes an OCI layout through a per-request round-robin over the replicas; each replica serves the same digest', async () => {
    const work = mkdtempSync(join(tmpdir(), 'cluster-skopeo-'));
    const lb = await startRoundRobin(apps.map((a) => a.url));
    try {
      const layout = join(work, 'layout');
      const big = tarGzLayer({ 'big.bin': deterministicBytes(7 * 1024 * 1024, 'cluster') });
      const small = tarGzLayer({ 'hello.txt': 'hello from the cluster\n' });
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [big.diffId, small.diffId] } }));
      const blobs = [config, big.blob, small.blob];
      const manifest = imageManifest({
        config: { mediaType: MT.config, digest: sha256(config), size: config.length },
        layers: [big.blob, small.blob].map((b) => ({ mediaType: MT.layer, digest: sha256(b), size: b.length })),
      });
      mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
      for (const b of [...blobs, manifest]) writeFileSync(join(layout, 'blobs', 'sha256', sha256(b).slice(7)), b);
      writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
      writeFileSync(join(layout, 'index.json'), JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: MT.manifest, digest: sha256(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
      }));

      const pushed = await skopeoCopy(`oci:${layout}:v1`, `docker://${lb.host}/team/skopeo:v1`, {
        preserveDigests: true, extraArgs: ['--dest-creds', `alice:${USERS.alice}`],
      });
      expect(pushed.digest).toBe(sha256(manifest));
      // Sessions were continued on another replica: some session's PATCH and PUT reached different ones.
      const targets = new Map<string, Set<number>>();
      for (const l of lb.log) {
        const id = /\/blobs\/uploads\/([^/]+)$/.exec(l.path)?.[1];
        if (id) targets.set(id, (targets.get(id) ?? new Set()).add(l.target));
      }
      expect([...targets.values()].some((t) => t.size > 1)).toBe(true);
      for (const app of apps) {
        const host = new URL(app.url).host;
        expect(await skopeoInspectDigest(`docker://${host}/team/skopeo:v1`, { extraArgs: ['--creds', `alice:${USERS.alice}`] })).toBe(sha256(manifest));
        const layer = await on(apps.indexOf(app)).call(`/v2/team/skopeo/blobs/${sha256(big.blob)}`);
        expect(sha256(layer.body)).toBe(sha256(big.blob));
      }
      expect(await keysUnder('uploads/')).toEqual([]);
    } finally {
      await lb.close();
      rmSync(work, { recursive: true, force: true });
    }
  }, 120_000);
});
