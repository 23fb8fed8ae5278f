/**
 * Issue 13, part R: storage.s3.redirect (warm blob GETs → 307 to a presigned URL of the
 * object, as Distribution's redirect middleware does) and /readyz over the shared engines
 * (PostgreSQL index, S3 bucket). On a throwaway radosgw and PostgreSQL, or the S3_TEST_* /
 * PG_TEST_URL ones (the readiness tests cut them with a TCP switch on 127.0.0.1, so the
 * S3 endpoint must be plain http there, e.g. MinIO).
 */
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { s3MirrorEnv, startS3, type S3TestStore } from '../helpers/ceph.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';
import { basicAuth, eventually } from '../helpers/oci-client.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startPrivateMirror, type PrivateMirror } from '../helpers/private-mirror.js';
import { startTcpSwitch, type TcpSwitch } from '../helpers/tcp-switch.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const ALICE = basicAuth('alice', 'secret');

let s3: S3TestStore;
let bucket: string;
let up: FakeUpstream;
const opened: Array<{ close(): Promise<void> }> = [];

const s3Env = (endpoint: string, extra: Record<string, string> = {}) => ({
  ...s3MirrorEnv(s3, bucket, `${s3.freshPrefix()}${randomBytes(4).toString('hex')}/`, endpoint),
  ...extra,
});

beforeAll(async () => {
  s3 = await startS3();
  bucket = await s3.createBucket();
  up = await startFakeUpstream();
}, 120_000);
afterAll(async () => {
  for (const o of opened.reverse()) await o.close();
  await up?.close();
  await s3?.stop();
});

async function get(url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') {
  const res = await request(url, { method, headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

const upstreamBlobGets = (digest: string) => up.count({ method: 'GET', kind: 'blob', path: new RegExp(digest) })
  - up.count({ method: 'GET', kind: 'blob', path: new RegExp(digest), status: 401 });

async function redirectMirror(extra: Record<string, string> = {}): Promise<PrivateMirror> {
  const pm = await startPrivateMirror(up.url, s3Env(s3.endpoint, {
    MIRROR_STORAGE_S3_REDIRECT: 'true', MIRROR_AUTH_MIRROR_PULL: 'authenticated', ...extra,
  }));
  opened.push(pm);
  return pm;
}

describe('storage.s3.redirect', () => {
  let pm: PrivateMirror;
  let bytes: Buffer;
  let digest: string;
  let blobUrl: string;
  beforeAll(async () => {
    pm = await redirectMirror();
    bytes = randomBytes(3 * 1024 * 1024 + 7);
    digest = sha256(bytes);
    up.addImage('library/redirected', undefined, { layers: [bytes] });
    blobUrl = `${pm.mirror.url}/v2/library/redirected/blobs/${digest}`;
  });

  test('a cold blob streams through the mirror (200 MISS); the next GET is a 307 to a URL that serves exactly its bytes, counted as a hit', async () => {
    const cold = await get(blobUrl, { authorization: ALICE });
    expect(cold.status).toBe(200);
    expect(cold.headers['x-cache']).toBe('MISS');
    expect(cold.headers.location).toBeUndefined();
    expect(sha256(cold.body)).toBe(digest);

    const hitsBefore = pm.mirror.metrics.cache.blob.HIT;
    const bytesBefore = pm.mirror.metrics.bytesServed;
    const warm = await get(blobUrl, { authorization: ALICE });
    expect(warm.status).toBe(307);
    expect(warm.body.length).toBe(0);
    expect(warm.headers['docker-content-digest']).toBe(digest);
    expect(warm.headers['x-cache']).toBe('HIT');
    const location = String(warm.headers.location);
    expect(location.startsWith(`${s3.endpoint}/`)).toBe(true);
    expect(location).toContain(digest.slice(7));
    expect(new URL(location).searchParams.get('X-Amz-Expires')).toBe('300'); // storage.s3.redirect_ttl: 5m
    expect(location).not.toContain(s3.secretKey);
    expect(pm.mirror.metrics.cache.blob.HIT).toBe(hitsBefore + 1);
    expect(pm.mirror.metrics.bytesServed).toBe(bytesBefore); // not a byte through the mirror

    // A plain HTTP client (no credentials of any kind) follows it to the store.
    const direct = await get(location);
    expect(direct.status).toBe(200);
    expect(direct.headers['content-type']).toBe('application/octet-stream');
    expect(sha256(direct.body)).toBe(digest);
    expect(upstreamBlobGets(digest)).toBe(1);
  });

  test('HEAD and Range requests are answered by the mirror itself', async () => {
    const head = await get(blobUrl, { authorization: ALICE }, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(bytes.length));
    expect(head.headers.location).toBeUndefined();
    const range = await get(blobUrl, { authorization: ALICE, range: 'bytes=10-19' });
    expect(range.status).toBe(206);
    expect(range.headers.location).toBeUndefined();
    expect(range.body.equals(bytes.subarray(10, 20))).toBe(true);
  });

  test('an anonymous client under auth.mirror_pull authenticated gets 401 and no Location', async () => {
    const anon = await get(blobUrl);
    expect(anon.status).toBe(401);
    expect(anon.headers.location).toBeUndefined();
    expect(anon.body.toString()).not.toContain('X-Amz');
  });

  test('a pushed (local) blob redirects too', async () => {
    const pushed = randomBytes(4096);
    const d = sha256(pushed);
    const start = await request(`${pm.mirror.url}/v2/private/app/blobs/uploads/?digest=${d}`, {
      method: 'POST', headers: { authorization: ALICE, 'content-type': 'application/octet-stream' }, body: pushed,
    });
    await start.body.arrayBuffer();
    expect(start.statusCode).toBe(201);
    const warm = await get(`${pm.mirror.url}/v2/private/app/blobs/${d}`, { authorization: ALICE });
    expect(warm.status).toBe(307);
    expect(sha256((await get(String(warm.headers.location))).body)).toBe(d);
  });

  test('the presigned URL expires after storage.s3.redirect_ttl', async () => {
    const short = await redirectMirror({ MIRROR_STORAGE_S3_REDIRECT_TTL: '1s' });
    const b = randomBytes(2048);
    up.addImage('library/short', undefined, { layers: [b] });
    const url = `${short.mirror.url}/v2/library/short/blobs/${sha256(b)}`;
    expect((await get(url, { authorization: ALICE })).status).toBe(200);
    const warm = await get(url, { authorization: ALICE });
    expect(warm.status).toBe(307);
    const location = String(warm.headers.location);
    expect(new URL(location).searchParams.get('X-Amz-Expires')).toBe('1');
    await sleep(2500);
    const late = await get(location);
    expect(late.status).toBe(403);
    expect(late.body.equals(b)).toBe(false);
  });

  test('off (the default): warm GETs stream from the mirror', async () => {
    const plain = await startMirrorApp(up.url, s3Env(s3.endpoint));
    opened.push(plain);
    const b = randomBytes(2048);
    up.addImage('library/plain', undefined, { layers: [b] });
    const url = `${plain.url}/v2/library/plain/blobs/${sha256(b)}`;
    await get(url);
    const warm = await get(url);
    expect(warm.status).toBe(200);
    expect(warm.headers['x-cache']).toBe('HIT');
    expect(warm.body.equals(b)).toBe(true);
  });
});

describe('/readyz with the shared engines', () => {
  let pg: TestPostgres;
  let pgSwitch: TcpSwitch;
  let s3Switch: TcpSwitch;
  let mirror: MirrorApp;
  let pgUrl: URL;
  beforeAll(async () => {
    pg = await startPostgres();
    pgUrl = new URL(await pg.createDatabase());
    pgSwitch = await startTcpSwitch(pgUrl.hostname, Number(pgUrl.port || 5432));
    const s3Url = new URL(s3.endpoint);
    s3Switch = await startTcpSwitch(s3Url.hostname, Number(s3Url.port || 80));
    const viaSwitch = new URL(pgUrl);
    viaSwitch.hostname = '127.0.0.1';
    viaSwitch.port = String(pgSwitch.port);
    mirror = await startMirrorApp(up.url, s3Env(`http://127.0.0.1:${s3Switch.port}`, {
      MIRROR_INDEX_DRIVER: 'postgres', MIRROR_INDEX_URL: viaSwitch.toString(),
    }));
  }, 60_000);
  afterAll(async () => {
    await mirror?.close();
    await pgSwitch?.close();
    await s3Switch?.close();
    await pg?.stop();
  });

  const readyz = async () => {
    const r = await get(`${mirror.url}/readyz`);
    return { status: r.status, text: r.body.toString() };
  };
  /** /readyz caches its answer a few seconds: poll until it changes. */
  const until = async (status: number) => {
    let last = await readyz();
    await eventually(async () => (last = await readyz()).status === status, 12_000, 250);
    return last;
  };
  const leaksNothing = (text: string) => {
    for (const s of ['127.0.0.1', String(pgSwitch.port), String(s3Switch.port), pgUrl.password, s3.accessKey, s3.secretKey, bucket]) {
      expect(text).not.toContain(s);
    }
  };

  test('the database unreachable → 503 naming the index; back → 200', async () => {
    expect((await readyz()).status).toBe(200);
    await pgSwitch.off();
    const down = await until(503);
    expect(down.status).toBe(503);
    expect(JSON.parse(down.text).reason).toMatch(/^index unavailable \(PostgreSQL/);
    leaksNothing(down.text);
    await pgSwitch.on();
    expect((await until(200)).status).toBe(200);
  }, 40_000);

  test('the S3 endpoint unreachable → 503 naming the blob store; back → 200', async () => {
    await s3Switch.off();
    const down = await until(503);
    expect(down.status).toBe(503);
    expect(JSON.parse(down.text).reason).toMatch(/^blob store unavailable \(S3/);
    leaksNothing(down.text);
    await s3Switch.on();
    expect((await until(200)).status).toBe(200);
  }, 40_000);

  test('the S3 endpoint silent (connections open, no answer) → 503 within seconds, each /readyz answered promptly; back → 200', async () => {
    expect((await until(200)).status).toBe(200);
    s3Switch.freeze();
    try {
      const down = await until(503);
      expect(JSON.parse(down.text).reason).toBe('storage engines did not answer within 3000 ms');
      leaksNothing(down.text);
      const started = Date.now();
      await readyz();
      expect(Date.now() - started).toBeLessThan(4000);
    } finally {
      s3Switch.thaw();
    }
    expect((await until(200)).status).toBe(200);
  }, 60_000);

  test('a silent S3 endpoint fails a cached blob GET with 503 in about 10 s, not minutes, naming no address; back → the blob again', async () => {
    const layer = randomBytes(50_000);
    up.addImage('library/silent', 'v1', { layers: [layer] });
    const url = `${mirror.url}/v2/library/silent/blobs/${sha256(layer)}`;
    expect((await get(url)).status).toBe(200);
    s3Switch.freeze();
    try {
      const started = Date.now();
      const r = await get(url);
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body.toString()).errors[0].code).toBe('STORAGE_UNAVAILABLE');
      leaksNothing(r.body.toString());
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      s3Switch.thaw();
    }
    const again = await get(url);
    expect(again.status).toBe(200);
    expect(again.body.equals(layer)).toBe(true);
  }, 60_000);

  test('probes are cached: many /readyz calls cost the database one query per interval', async () => {
    // With the database cut, an uncached probe would answer 503 at once; the cached 200 stays.
    expect((await until(200)).status).toBe(200);
    await sleep(5200); // past the cache: the next call probes (ok), the following ones reuse it
    expect((await readyz()).status).toBe(200);
    await pgSwitch.off();
    const answers = await Promise.all(Array.from({ length: 20 }, () => readyz()));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    await pgSwitch.on();
  }, 40_000);
});
