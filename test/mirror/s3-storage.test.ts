/**
 * The mirror with storage.driver s3 (issue 13) on a throwaway radosgw (or the S3_TEST_*
 * store): a pull through the fake upstream lands in the bucket under its digest and comes
 * back warm from there; the store going away is a 503 with no address in it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { s3MirrorEnv, startS3, type S3TestStore } from '../helpers/ceph.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import type { MirrorApp } from '../helpers/mirror-app.js';
import { startPrivateMirror, type PrivateMirror } from '../helpers/private-mirror.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let s3: S3TestStore;
let bucket: string;
let prefix: string;
let up: FakeUpstream;
let pm: PrivateMirror;
let mirror: MirrorApp;

beforeAll(async () => {
  s3 = await startS3();
  bucket = await s3.createBucket();
  prefix = `${s3.freshPrefix()}mirror/`;
  up = await startFakeUpstream();
  pm = await startPrivateMirror(up.url, {
    ...s3MirrorEnv(s3, bucket, prefix),
  });
  mirror = pm.mirror;
}, 120_000);
afterAll(async () => {
  await pm?.close();
  await up?.close();
  await s3?.stop();
});

async function get(path: string) {
  const res = await request(`${mirror.url}${path}`);
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

const upstreamBlobGets = (digest: string) => up.count({ method: 'GET', kind: 'blob', path: new RegExp(digest) })
  - up.count({ method: 'GET', kind: 'blob', path: new RegExp(digest), status: 401 });

async function keys(): Promise<string[]> {
  const res = await s3.client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => o.Key!);
}

describe('storage.driver s3', () => {
  test('a cold pull lands in the bucket under blobs/sha256/<hex>; warm pulls and ranges come from S3, not the upstream', async () => {
    const bytes = randomBytes(10 * 1024 * 1024 + 3); // past one part: multipart
    up.addImage('library/app', undefined, { layers: [bytes] });
    const digest = sha256(bytes);
    const cold = await get(`/v2/library/app/blobs/${digest}`);
    expect(cold.status).toBe(200);
    expect(cold.headers['x-cache']).toBe('MISS');
    expect(sha256(cold.body)).toBe(digest);
    expect(await keys()).toContain(`${prefix}blobs/sha256/${digest.slice(7)}`);
    expect(mirror.blobFiles()).toEqual([]); // nothing under the data dir's blobs/

    const warm = await get(`/v2/library/app/blobs/${digest}`);
    expect(warm.status).toBe(200);
    expect(warm.headers['x-cache']).toBe('HIT');
    expect(warm.body.equals(bytes)).toBe(true);
    const res = await request(`${mirror.url}/v2/library/app/blobs/${digest}`, { headers: { range: 'bytes=100-199' } });
    expect(res.statusCode).toBe(206);
    expect(Buffer.from(await res.body.arrayBuffer()).equals(bytes.subarray(100, 200))).toBe(true);
    expect(upstreamBlobGets(digest)).toBe(1);
    expect(mirror.tmpFiles()).toEqual([]); // spool files gone once the fill is done
  }, 60_000);

  test('/readyz is ready: the data dir (index, spool) is writable', async () => {
    const res = await request(`${mirror.url}/readyz`);
    await res.body.dump();
    expect(res.statusCode).toBe(200);
  });

  test('a push in PATCH chunks to a local namespace lands in the bucket once its digest is verified, and pulls back', async () => {
    const bytes = randomBytes(12 * 1024 * 1024);
    const digest = sha256(bytes);
    const half = 6 * 1024 * 1024;
    let location = await pm.pusher.startUpload('private/app');
    for (const [from, to] of [[0, half], [half, bytes.length]] as const) {
      const patch = await pm.pusher.call(location, {
        method: 'PATCH', body: bytes.subarray(from, to),
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${from}-${to - 1}` },
      });
      expect(patch.status).toBe(202);
      location = patch.header('location');
    }
    const before = await keys();
    expect(before).not.toContain(`${prefix}blobs/sha256/${digest.slice(7)}`); // nothing before the PUT
    const wrong = new URL(location, mirror.url);
    wrong.searchParams.set('digest', sha256(Buffer.from('other')));
    expect((await pm.pusher.call(wrong.toString(), { method: 'PUT' })).status).toBe(400);
    expect(await keys()).toEqual(before); // a wrong digest stores nothing

    let again = await pm.pusher.startUpload('private/app');
    const patch = await pm.pusher.call(again, { method: 'PATCH', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    expect(patch.status).toBe(202);
    again = patch.header('location');
    const put = new URL(again, mirror.url);
    put.searchParams.set('digest', digest);
    expect((await pm.pusher.call(put.toString(), { method: 'PUT' })).status).toBe(201);
    expect(await keys()).toContain(`${prefix}blobs/sha256/${digest.slice(7)}`);
    const pulled = await pm.pusher.call(`/v2/private/app/blobs/${digest}`);
    expect(pulled.status).toBe(200);
    expect(sha256(pulled.body)).toBe(digest);
  }, 60_000);

  // Last: it stops the gateway.
  test('the store down: a warm blob is 503 STORAGE_UNAVAILABLE, naming neither the endpoint nor the bucket', async () => {
    const bytes = randomBytes(1000);
    up.addImage('library/down', undefined, { layers: [bytes] });
    const digest = sha256(bytes);
    expect((await get(`/v2/library/down/blobs/${digest}`)).status).toBe(200);
    if (s3.external) return; // cannot stop an external store
    await s3.stopGateway();
    const res = await get(`/v2/library/down/blobs/${digest}`);
    expect(res.status).toBe(503);
    const text = res.body.toString('utf8');
    expect(JSON.parse(text).errors[0].code).toBe('STORAGE_UNAVAILABLE');
    expect(text).not.toContain(new URL(s3.endpoint).port);
    expect(text).not.toContain(bucket);
  }, 60_000);
});
