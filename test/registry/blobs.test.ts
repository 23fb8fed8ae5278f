/**
 * Reading and deleting blobs of a local namespace (OCI distribution-spec v1.1, "Pull"
 * and "Content Management" workflows: end-2, end-10), and abandoned uploads expiring.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLocalRegistry, upstreamRequestsFor, type LocalRegistry } from '../helpers/local-registry.js';
import { eventually, sha256, type OciClient } from '../helpers/oci-client.js';

let reg: LocalRegistry;
let c: OciClient;
let n = 0;
const repo = () => `team/blob-${++n}`;
const OCTET = { 'content-type': 'application/octet-stream' };

beforeAll(async () => {
  reg = await startLocalRegistry();
  c = reg.alice;
});
afterAll(async () => {
  await reg?.close();
});

describe('blob reads and deletes (end-2, end-10)', () => {
  test('HEAD: 200 with Content-Length and Docker-Content-Digest, no body; Range: 206 with exactly those bytes', async () => {
    const name = repo();
    const bytes = randomBytes(40_000);
    const { digest } = await c.pushBlob(name, bytes);
    const head = await c.call(`/v2/${name}/blobs/${digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.header('content-length')).toBe(String(bytes.length));
    expect(head.header('docker-content-digest')).toBe(digest);
    expect(head.body.length).toBe(0);
    const part = await c.call(`/v2/${name}/blobs/${digest}`, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.header('content-range')).toBe(`bytes 100-199/${bytes.length}`);
    expect(part.body.equals(bytes.subarray(100, 200))).toBe(true);
  });

  test('a blob pushed to one repository is not served from another local repository', async () => {
    const { digest } = await c.pushBlob(repo(), randomBytes(100));
    const r = await c.call(`/v2/${repo()}/blobs/${digest}`);
    expect(r.status).toBe(404);
    expect(r.codes()).toContain('BLOB_UNKNOWN');
  });

  test('unknown blob: GET 404 BLOB_UNKNOWN, HEAD 404; never asked of the upstream', async () => {
    const name = repo();
    const digest = sha256(randomBytes(16));
    const get = await c.call(`/v2/${name}/blobs/${digest}`);
    expect(get.status).toBe(404);
    expect(get.codes()).toContain('BLOB_UNKNOWN');
    expect((await c.call(`/v2/${name}/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
    expect(upstreamRequestsFor(reg.up, name)).toEqual([]);
  });

  test('malformed digest in a blob path: 400 DIGEST_INVALID', async () => {
    const r = await c.call(`/v2/${repo()}/blobs/sha256:zzz`);
    expect(r.status).toBe(400);
    expect(r.codes()).toContain('DIGEST_INVALID');
  });

  test('DELETE a blob: 202, then GET 404 BLOB_UNKNOWN, unlinked in the index; a second DELETE is 404', async () => {
    const name = repo();
    const { digest } = await c.pushBlob(name, randomBytes(1000));
    expect((await c.call(`/v2/${name}/blobs/${digest}`, { method: 'DELETE' })).status).toBe(202);
    const get = await c.call(`/v2/${name}/blobs/${digest}`);
    expect(get.status).toBe(404);
    expect(get.codes()).toContain('BLOB_UNKNOWN');
    expect(await reg.mirror.ports.blobs.hasRepoBlob(name, digest)).toBe(false);
    const again = await c.call(`/v2/${name}/blobs/${digest}`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(again.codes()).toContain('BLOB_UNKNOWN');
  });
});

test('an invalid repository name: 400 NAME_INVALID, for reads and for pushes', async () => {
  for (const r of [
    await c.call(`/v2/team/Not_Valid/blobs/${sha256('x')}`),
    await c.call('/v2/team/Not_Valid/blobs/uploads/', { method: 'POST' }),
  ]) {
    expect(r.status).toBe(400);
    expect(r.codes()).toContain('NAME_INVALID');
  }
});

describe('abandoned uploads expire (storage.upload_expiry)', () => {
  let short: LocalRegistry;
  beforeAll(async () => {
    short = await startLocalRegistry({ MIRROR_STORAGE_UPLOAD_EXPIRY: '1s' });
  });
  afterAll(async () => {
    await short?.close();
  });

  test('an upload untouched for longer than the expiry is gone: 404 BLOB_UPLOAD_UNKNOWN, temp file removed', async () => {
    const loc = await short.alice.startUpload('team/expiring');
    const p = await short.alice.call(loc, { method: 'PATCH', headers: OCTET, body: randomBytes(64 * 1024) });
    expect(p.status).toBe(202);
    expect(short.mirror.tmpFiles().length).toBeGreaterThan(0);
    // Both clocks move: the mirror's own (tests control it) and the wall clock (timers).
    short.mirror.advance(2000);
    await new Promise((r) => setTimeout(r, 1200));
    const live = new URL(p.header('location'), short.mirror.url).toString();
    const gone = await eventually(async () => (await short.alice.call(live)).status === 404);
    expect(gone).toBe(true);
    expect((await short.alice.call(live)).codes()).toContain('BLOB_UPLOAD_UNKNOWN');
    expect(await eventually(() => short.mirror.tmpFiles().length === 0)).toBe(true);
  });
});
