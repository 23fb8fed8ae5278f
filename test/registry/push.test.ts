/**
 * Pushing blobs into a local namespace (OCI distribution-spec v1.1, "Push" workflow:
 * end-4a, end-4b, end-5, end-6, end-11, end-13): statuses, headers, bytes served back,
 * and what is on disk and in the index afterwards. Reads and deletes: blobs.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLocalRegistry, type LocalRegistry } from '../helpers/local-registry.js';
import { sha256, type OciClient } from '../helpers/oci-client.js';

let reg: LocalRegistry;
let c: OciClient;
let n = 0;
/** A fresh local repository per test, so tests never see each other's content. */
const repo = () => `team/push-${++n}`;
const OCTET = { 'content-type': 'application/octet-stream' };
const withDigest = (location: string, digest: string) => {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
};
/** Temp files that appeared since `before` (other tests' open uploads keep theirs). */
const newTmpFiles = (before: string[]) => reg.mirror.tmpFiles().filter((f) => !before.includes(f));
const hasBlobFile = (digest: string) => reg.mirror.blobFiles().some((f) => f.endsWith(digest.slice('sha256:'.length)));

beforeAll(async () => {
  reg = await startLocalRegistry();
  c = reg.alice;
});
afterAll(async () => {
  await reg?.close();
});

/** Every side of a finished push: headers of the PUT, bytes served, disk, index. */
async function expectPushed(name: string, bytes: Buffer, put: { status: number; header(n: string): string }) {
  const digest = sha256(bytes);
  expect(put.status).toBe(201);
  expect(put.header('location')).toMatch(new RegExp(`/v2/${name}/blobs/${digest}$`));
  expect(put.header('docker-content-digest')).toBe(digest);
  const get = await c.call(`/v2/${name}/blobs/${digest}`);
  expect(get.status).toBe(200);
  expect(get.header('docker-content-digest')).toBe(digest);
  expect(get.header('content-length')).toBe(String(bytes.length));
  expect(get.body.equals(bytes)).toBe(true);
  expect(hasBlobFile(digest)).toBe(true);
  expect((await reg.mirror.ports.blobs.getBlob(digest))?.size).toBe(bytes.length);
  expect(await reg.mirror.ports.blobs.hasRepoBlob(name, digest)).toBe(true);
}

describe('starting an upload (end-4a)', () => {
  test('POST /blobs/uploads/ answers 202 with a Location under the repository and a Docker-Upload-UUID', async () => {
    const name = repo();
    const r = await c.call(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
    expect(r.status).toBe(202);
    expect(new URL(r.header('location'), c.url).pathname).toMatch(new RegExp(`^/v2/${name}/blobs/uploads/[^/]+$`));
    expect(r.header('docker-upload-uuid')).not.toBe('');
    expect(r.header('docker-distribution-api-version')).toBe('registry/2.0');
  });

  test('two uploads get two different sessions', async () => {
    const name = repo();
    expect(await c.startUpload(name)).not.toBe(await c.startUpload(name));
  });
});

describe('monolithic upload (end-4b, end-6)', () => {
  test('POST then PUT ?digest= with the whole blob: 201, Location, Docker-Content-Digest; GET serves those bytes; no temp file left', async () => {
    const name = repo();
    const bytes = randomBytes(300_000);
    const before = reg.mirror.tmpFiles();
    const loc = await c.startUpload(name);
    const put = await c.call(withDigest(loc, sha256(bytes)), { method: 'PUT', headers: OCTET, body: bytes });
    await expectPushed(name, bytes, put);
    expect(newTmpFiles(before)).toEqual([]);
  });

  test('single POST ?digest= with the body: 201 with Location /v2/<name>/blobs/<digest>', async () => {
    const name = repo();
    const bytes = randomBytes(10_000);
    const post = await c.call(`/v2/${name}/blobs/uploads/?digest=${sha256(bytes)}`, { method: 'POST', headers: OCTET, body: bytes });
    await expectPushed(name, bytes, post);
  });

  test('single POST ?digest= whose body does not match: 400 DIGEST_INVALID, nothing stored', async () => {
    const name = repo();
    const bytes = randomBytes(10_000);
    const claimed = sha256(randomBytes(8));
    const post = await c.call(`/v2/${name}/blobs/uploads/?digest=${claimed}`, { method: 'POST', headers: OCTET, body: bytes });
    expect(post.status).toBe(400);
    expect(post.codes()).toContain('DIGEST_INVALID');
    for (const d of [claimed, sha256(bytes)]) {
      expect((await c.call(`/v2/${name}/blobs/${d}`)).status).toBe(404);
      expect(hasBlobFile(d)).toBe(false);
      expect(await reg.mirror.ports.blobs.getBlob(d)).toBeUndefined();
    }
  });

  test('an empty blob (0 bytes) can be pushed and is served with Content-Length 0', async () => {
    const name = repo();
    const loc = await c.startUpload(name);
    const put = await c.call(withDigest(loc, sha256(Buffer.alloc(0))), { method: 'PUT', headers: OCTET, body: Buffer.alloc(0) });
    await expectPushed(name, Buffer.alloc(0), put);
  });
});

describe('wrong digests (end-6 errors)', () => {
  test('PUT ?digest= that does not match the bytes: 400 DIGEST_INVALID; no blob, no file, no temp file, no index row', async () => {
    const name = repo();
    const bytes = randomBytes(50_000);
    const claimed = sha256(Buffer.from('something else'));
    const before = reg.mirror.tmpFiles();
    const loc = await c.startUpload(name);
    const put = await c.call(withDigest(loc, claimed), { method: 'PUT', headers: OCTET, body: bytes });
    expect(put.status).toBe(400);
    expect(put.codes()).toContain('DIGEST_INVALID');
    for (const d of [claimed, sha256(bytes)]) {
      const get = await c.call(`/v2/${name}/blobs/${d}`);
      expect(get.status).toBe(404);
      expect(get.codes()).toContain('BLOB_UNKNOWN');
      expect(hasBlobFile(d)).toBe(false);
      expect(await reg.mirror.ports.blobs.getBlob(d)).toBeUndefined();
    }
    expect(newTmpFiles(before)).toEqual([]);
  });

  test('PUT with a malformed digest: 400 DIGEST_INVALID', async () => {
    const loc = await c.startUpload(repo());
    const put = await c.call(withDigest(loc, 'sha256:not-hex'), { method: 'PUT', headers: OCTET, body: Buffer.from('x') });
    expect(put.status).toBe(400);
    expect(put.codes()).toContain('DIGEST_INVALID');
  });

  test('PUT without ?digest=: 400 with an OCI error body', async () => {
    const loc = await c.startUpload(repo());
    const put = await c.call(loc, { method: 'PUT', headers: OCTET, body: Buffer.from('x') });
    expect(put.status).toBe(400);
    expect(put.codes().length).toBeGreaterThan(0);
  });
});

describe('streamed and chunked uploads (end-5, end-13)', () => {
  test('PATCH without Content-Range appends: Range grows to 0-<total-1>; PUT ?digest= with no body completes the blob', async () => {
    const name = repo();
    const a = randomBytes(70_000);
    const b = randomBytes(30_000);
    let loc = await c.startUpload(name);
    const p1 = await c.call(loc, { method: 'PATCH', headers: OCTET, body: a });
    expect(p1.status).toBe(202);
    expect(p1.header('range')).toBe(`0-${a.length - 1}`);
    expect(p1.header('location')).not.toBe('');
    loc = new URL(p1.header('location'), c.url).toString();
    const p2 = await c.call(loc, { method: 'PATCH', headers: OCTET, body: b });
    expect(p2.status).toBe(202);
    expect(p2.header('range')).toBe(`0-${a.length + b.length - 1}`);
    loc = new URL(p2.header('location'), c.url).toString();
    const whole = Buffer.concat([a, b]);
    const put = await c.call(withDigest(loc, sha256(whole)), { method: 'PUT', headers: { ...OCTET, 'content-length': '0' } });
    await expectPushed(name, whole, put);
  });

  test('chunks with Content-Range in order: 202 + Range each time, GET status 204 with the offset, final chunk in the PUT', async () => {
    const name = repo();
    const whole = randomBytes(3 * 1024 * 1024 + 123);
    const chunks = [whole.subarray(0, 1024 * 1024), whole.subarray(1024 * 1024, 3 * 1024 * 1024), whole.subarray(3 * 1024 * 1024)];
    let loc = await c.startUpload(name);
    let offset = 0;
    for (const chunk of chunks.slice(0, 2)) {
      const end = offset + chunk.length - 1;
      const r = await c.call(loc, {
        method: 'PATCH',
        headers: { ...OCTET, 'content-range': `${offset}-${end}`, 'content-length': String(chunk.length) },
        body: chunk,
      });
      expect(r.status).toBe(202);
      expect(r.header('range')).toBe(`0-${end}`);
      loc = new URL(r.header('location'), c.url).toString();
      offset = end + 1;
      const status = await c.call(loc);
      expect(status.status).toBe(204);
      expect(status.header('range')).toBe(`0-${end}`);
      expect(status.header('location')).not.toBe('');
    }
    const last = chunks[2]!;
    const put = await c.call(withDigest(loc, sha256(whole)), {
      method: 'PUT',
      headers: { ...OCTET, 'content-range': `${offset}-${offset + last.length - 1}`, 'content-length': String(last.length) },
      body: last,
    });
    await expectPushed(name, whole, put);
  });

  test('a first chunk that does not start at 0 is refused with 416', async () => {
    const loc = await c.startUpload(repo());
    const r = await c.call(loc, { method: 'PATCH', headers: { ...OCTET, 'content-range': '10-19' }, body: randomBytes(10) });
    expect(r.status).toBe(416);
  });

  test('an out-of-order chunk gets 416 and leaves the session usable at its old offset', async () => {
    const name = repo();
    const whole = randomBytes(30);
    const loc = await c.startUpload(name);
    const first = await c.call(loc, { method: 'PATCH', headers: { ...OCTET, 'content-range': '0-9' }, body: whole.subarray(0, 10) });
    expect(first.status).toBe(202);
    const next = new URL(first.header('location'), c.url).toString();
    // A gap (20-29 after 0-9) and a replay (0-9 again) are both out of order.
    const gap = await c.call(next, { method: 'PATCH', headers: { ...OCTET, 'content-range': '20-29' }, body: whole.subarray(20) });
    expect(gap.status).toBe(416);
    const replay = await c.call(next, { method: 'PATCH', headers: { ...OCTET, 'content-range': '0-9' }, body: whole.subarray(0, 10) });
    expect(replay.status).toBe(416);
    const status = await c.call(next);
    expect(status.status).toBe(204);
    expect(status.header('range')).toBe('0-9');
    const rest = await c.call(next, { method: 'PATCH', headers: { ...OCTET, 'content-range': '10-29' }, body: whole.subarray(10) });
    expect(rest.status).toBe(202);
    const put = await c.call(withDigest(new URL(rest.header('location'), c.url).toString(), sha256(whole)), { method: 'PUT', headers: OCTET });
    await expectPushed(name, whole, put);
  });

  test('GET on a fresh upload: 204 with Location', async () => {
    const loc = await c.startUpload(repo());
    const r = await c.call(loc);
    expect(r.status).toBe(204);
    expect(r.header('location')).not.toBe('');
  });
});

describe('cancel and unknown uploads (end-13 errors, DELETE upload)', () => {
  test('DELETE an upload: 204; afterwards GET, PATCH and PUT on it are 404 BLOB_UPLOAD_UNKNOWN and its temp file is gone', async () => {
    const before = reg.mirror.tmpFiles();
    const loc = await c.startUpload(repo());
    const data = randomBytes(1000);
    const p = await c.call(loc, { method: 'PATCH', headers: OCTET, body: data });
    expect(p.status).toBe(202);
    expect(newTmpFiles(before).length).toBeGreaterThan(0);
    const live = new URL(p.header('location'), c.url).toString();
    expect((await c.call(live, { method: 'DELETE' })).status).toBe(204);
    for (const r of [
      await c.call(live),
      await c.call(live, { method: 'PATCH', headers: OCTET, body: data }),
      await c.call(withDigest(live, sha256(data)), { method: 'PUT', headers: OCTET }),
    ]) {
      expect(r.status).toBe(404);
      expect(r.codes()).toContain('BLOB_UPLOAD_UNKNOWN');
    }
    expect(newTmpFiles(before)).toEqual([]);
  });

  test.each(['GET', 'PATCH', 'PUT', 'DELETE'])('%s on an upload id that never existed: 404 BLOB_UPLOAD_UNKNOWN', async (method) => {
    const r = await c.call(`/v2/${repo()}/blobs/uploads/no-such-upload-0000?digest=${sha256('x')}`, {
      method, headers: OCTET, ...(method === 'PATCH' || method === 'PUT' ? { body: Buffer.from('x') } : {}),
    });
    expect(r.status).toBe(404);
    expect(r.codes()).toContain('BLOB_UPLOAD_UNKNOWN');
  });

  test('an upload belongs to its repository: its id under another repository is 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const loc = new URL(await c.startUpload(repo()));
    const id = loc.pathname.split('/').pop()!;
    const r = await c.call(`/v2/${repo()}/blobs/uploads/${id}`);
    expect(r.status).toBe(404);
    expect(r.codes()).toContain('BLOB_UPLOAD_UNKNOWN');
  });
});

describe('cross-repository mount (end-11)', () => {
  test('blob present in `from`: 201, Location /v2/<name>/blobs/<digest>, served from the new repo, one file on disk', async () => {
    const from = repo();
    const to = repo();
    const bytes = randomBytes(20_000);
    const { digest } = await c.pushBlob(from, bytes);
    expect((await c.call(`/v2/${to}/blobs/${digest}`)).status).toBe(404);
    const r = await c.call(`/v2/${to}/blobs/uploads/?mount=${digest}&from=${from}`, { method: 'POST' });
    expect(r.status).toBe(201);
    expect(r.header('location')).toMatch(new RegExp(`/v2/${to}/blobs/${digest}$`));
    expect(r.header('docker-content-digest')).toBe(digest);
    const get = await c.call(`/v2/${to}/blobs/${digest}`);
    expect(get.status).toBe(200);
    expect(get.body.equals(bytes)).toBe(true);
    expect(await reg.mirror.ports.blobs.hasRepoBlob(to, digest)).toBe(true);
    expect(reg.mirror.blobFiles().filter((f) => f.endsWith(digest.slice(7)))).toHaveLength(1);
  });

  test('blob not in `from`: 202 and a normal upload session that completes the push', async () => {
    const to = repo();
    const bytes = randomBytes(5000);
    const digest = sha256(bytes);
    const r = await c.call(`/v2/${to}/blobs/uploads/?mount=${digest}&from=${repo()}`, { method: 'POST' });
    expect(r.status).toBe(202);
    expect(r.header('location')).toMatch(/\/blobs\/uploads\/[^/]+/);
    expect(await reg.mirror.ports.blobs.hasRepoBlob(to, digest)).toBe(false);
    const put = await c.call(withDigest(new URL(r.header('location'), c.url).toString(), digest), { method: 'PUT', headers: OCTET, body: bytes });
    await expectPushed(to, bytes, put);
  });
});

test('every push-side response carries Docker-Distribution-API-Version: registry/2.0, errors included', async () => {
  const name = repo();
  const loc = await c.startUpload(name);
  const replies = [
    await c.call(`/v2/${name}/blobs/uploads/`, { method: 'POST' }),
    await c.call(loc),
    await c.call(loc, { method: 'PATCH', headers: { ...OCTET, 'content-range': '5-9' }, body: randomBytes(5) }),
    await c.call(withDigest(loc, sha256('nope')), { method: 'PUT', headers: OCTET, body: Buffer.from('x') }),
    await c.call(`/v2/${name}/blobs/uploads/unknown-id`),
    await c.call(`/v2/${name}/blobs/${sha256('absent')}`),
  ];
  expect(replies.map((r) => r.status)).toEqual([202, 204, 416, 400, 404, 404]);
  for (const r of replies) expect(r.header('docker-distribution-api-version')).toBe('registry/2.0');
});
