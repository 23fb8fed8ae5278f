/**
 * Blobs through the mirror against the fake upstream (token auth, 307 to a CDN that
 * refuses Authorization): bytes, digests, statuses, and how many requests reached it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let up: FakeUpstream;
let mirror: MirrorApp;

beforeAll(async () => {
  up = await startFakeUpstream();
  mirror = await startMirrorApp(up.url);
});
afterAll(async () => {
  await mirror?.close();
  await up?.close();
});
afterEach(() => up.reset());

/** A fresh blob in library/app, never requested before. */
function newBlob(size = 256 * 1024): { bytes: Buffer; digest: string } {
  const bytes = randomBytes(size);
  up.addImage('library/app', undefined, { layers: [bytes] });
  return { bytes, digest: sha256(bytes) };
}

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await request(`${mirror.url}${path}`, { headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

/** Upstream blob GETs that were answered (a first 401 for the token dance is not a fetch). */
const upstreamBlobGets = (digest: string) => up.count({ method: 'GET', kind: 'blob', path: new RegExp(digest) })
  - up.count({ method: 'GET', kind: 'blob', path: new RegExp(digest), status: 401 });

describe('blob GET', () => {
  test('cold: streamed from upstream (MISS) with digest headers; warm: from disk (HIT), no upstream request', async () => {
    const { bytes, digest } = newBlob();
    const cold = await get(`/v2/library/app/blobs/${digest}`);
    expect(cold.status).toBe(200);
    expect(cold.headers['x-cache']).toBe('MISS');
    expect(cold.headers['docker-content-digest']).toBe(digest);
    expect(cold.headers['content-length']).toBe(String(bytes.length));
    expect(cold.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect(sha256(cold.body)).toBe(digest);

    const warm = await get(`/v2/library/app/blobs/${digest}`);
    expect(warm.headers['x-cache']).toBe('HIT');
    expect(warm.body.equals(bytes)).toBe(true);
    expect(upstreamBlobGets(digest)).toBe(1);
    // The CDN never saw credentials (it refuses them with 400 anyway).
    expect(up.requests.filter((r) => r.kind === 'cdn' && r.auth !== undefined)).toEqual([]);
  });

  test('10 concurrent cold requests cost exactly 1 upstream blob GET, and all 10 get the right bytes', async () => {
    const { digest } = newBlob(4 * 1024 * 1024);
    up.faults.throttle = { bytesPerChunk: 256 * 1024, intervalMs: 5 };
    const results = await Promise.all(Array.from({ length: 10 }, () => get(`/v2/library/app/blobs/${digest}`)));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(sha256(r.body)).toBe(digest);
    }
    expect(upstreamBlobGets(digest)).toBe(1);
    expect(up.count({ kind: 'cdn', path: new RegExp(digest) })).toBe(1);
  });

  test('two repositories asking for one blob at once share one upstream GET; each is confirmed by a HEAD, and both are linked', async () => {
    const bytes = randomBytes(4 * 1024 * 1024);
    const digest = sha256(bytes);
    up.addImage('library/app', undefined, { layers: [bytes] });
    up.addImage('library/other', undefined, { layers: [bytes] });
    up.faults.throttle = { bytesPerChunk: 256 * 1024, intervalMs: 5 };
    const [a, b] = await Promise.all([get(`/v2/library/app/blobs/${digest}`), get(`/v2/library/other/blobs/${digest}`)]);
    for (const r of [a, b]) {
      expect(r.status).toBe(200);
      expect(sha256(r.body)).toBe(digest);
    }
    expect(upstreamBlobGets(digest)).toBe(1);
    expect(up.count({ kind: 'cdn', path: new RegExp(digest) })).toBe(1);
    expect(await mirror.ports.blobs.hasRepoBlob('docker.io/library/app', digest)).toBe(true);
    expect(await mirror.ports.blobs.hasRepoBlob('docker.io/library/other', digest)).toBe(true);
  });

  test('a repository whose upstream HEAD ends after the shared fill committed still gets the bytes and its link', async () => {
    const bytes = randomBytes(1024 * 1024);
    const digest = sha256(bytes);
    up.addImage('library/app', undefined, { layers: [bytes] });
    up.addImage('library/late', undefined, { layers: [bytes] });
    up.faults.throttle = { bytesPerChunk: 256 * 1024, intervalMs: 30 };
    const first = await request(`${mirror.url}/v2/library/app/blobs/${digest}`);
    expect(first.statusCode).toBe(200);
    // From now on the upstream answers late: the second repository's HEAD outlasts the fill.
    up.faults.delayMs = 400;
    const [a, b] = await Promise.all([first.body.arrayBuffer(), get(`/v2/library/late/blobs/${digest}`)]);
    expect(sha256(Buffer.from(a))).toBe(digest);
    expect(b.status).toBe(200);
    expect(sha256(b.body)).toBe(digest);
    expect(upstreamBlobGets(digest)).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(await mirror.ports.blobs.hasRepoBlob('docker.io/library/late', digest)).toBe(true);
  });

  test('a repository the upstream does not confirm never follows another repository\'s fill of that blob', async () => {
    const { digest } = newBlob(1024 * 1024);
    up.addImage('library/nothere', undefined, { layers: [Buffer.from('something else')] });
    up.faults.blobsUnknownIn.add('library/nothere');
    up.faults.stallAfter.set(digest, 512 * 1024);
    const first = await request(`${mirror.url}/v2/library/app/blobs/${digest}`);
    expect(first.statusCode).toBe(200);
    const other = await get(`/v2/library/nothere/blobs/${digest}`);
    expect(other.status).toBe(404);
    expect(JSON.parse(other.body.toString()).errors[0].code).toBe('BLOB_UNKNOWN');
    expect(upstreamBlobGets(digest)).toBe(1);
    first.body.destroy();
  });

  test('bytes reach the client while the upstream is still sending (no wait for the whole blob)', async () => {
    const { digest } = newBlob(1024 * 1024);
    // The upstream sends half, then stalls forever: a mirror that buffered would send nothing.
    up.faults.stallAfter.set(digest, 512 * 1024);
    const res = await request(`${mirror.url}/v2/library/app/blobs/${digest}`);
    expect(res.statusCode).toBe(200);
    let received = 0;
    await expect((async () => {
      for await (const chunk of res.body) received += (chunk as Buffer).length;
    })()).rejects.toThrow();
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThanOrEqual(512 * 1024);
    expect(mirror.blobFiles().some((f) => f.endsWith(digest.slice(7)))).toBe(false);
  });

  test('a client that disconnects does not cancel the fill for the others', async () => {
    const { bytes, digest } = newBlob(2 * 1024 * 1024);
    up.faults.throttle = { bytesPerChunk: 128 * 1024, intervalMs: 10 };
    const leaver = await request(`${mirror.url}/v2/library/app/blobs/${digest}`);
    const stayer = get(`/v2/library/app/blobs/${digest}`);
    for await (const _chunk of leaver.body) {
      leaver.body.destroy();
      break;
    }
    const done = await stayer;
    expect(done.body.equals(bytes)).toBe(true);
    expect((await get(`/v2/library/app/blobs/${digest}`)).headers['x-cache']).toBe('HIT');
    expect(upstreamBlobGets(digest)).toBe(1);
  });

  test.each([
    ['corrupted', (d: string) => up.faults.corrupt.add(d)],
    ['cut mid-transfer', (d: string) => up.faults.cutAfter.set(d, 100_000)],
  ])('%s upstream blob: the client never gets a complete body, nothing is cached, the next request fetches again', async (_name, inject) => {
    const { bytes, digest } = newBlob(300_000);
    inject(digest);
    let received = 0;
    // Depending on when the fill fails, the client sees a 502 or a cut body: never a whole one.
    const attempt = (async () => {
      const res = await request(`${mirror.url}/v2/library/app/blobs/${digest}`);
      for await (const chunk of res.body) received += (chunk as Buffer).length;
      return res.statusCode;
    })();
    await attempt.then((status) => expect(status).toBe(502), (err: Error) => expect(err).toBeInstanceOf(Error));
    expect(received).toBeLessThan(bytes.length);
    expect(mirror.blobFiles().some((f) => f.endsWith(digest.slice(7)))).toBe(false);
    expect(mirror.tmpFiles()).toEqual([]);
    expect(await mirror.ports.blobs.getBlob(digest)).toBeUndefined();

    up.reset();
    const retry = await get(`/v2/library/app/blobs/${digest}`);
    expect(retry.body.equals(bytes)).toBe(true);
    expect(upstreamBlobGets(digest)).toBe(1);
    expect((await mirror.ports.blobs.getBlob(digest))?.size).toBe(bytes.length);
  });

  test('Range on a cached blob: 206 with Content-Range and exactly those bytes; bad range: 416', async () => {
    const { bytes, digest } = newBlob(100_000);
    await get(`/v2/library/app/blobs/${digest}`);
    const part = await get(`/v2/library/app/blobs/${digest}`, { range: 'bytes=1000-1999' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 1000-1999/${bytes.length}`);
    expect(part.body.equals(bytes.subarray(1000, 2000))).toBe(true);
    const tail = await get(`/v2/library/app/blobs/${digest}`, { range: 'bytes=99000-' });
    expect(tail.body.equals(bytes.subarray(99000))).toBe(true);
    const bad = await get(`/v2/library/app/blobs/${digest}`, { range: 'bytes=200000-' });
    expect(bad.status).toBe(416);
    expect(bad.headers['content-range']).toBe(`bytes */${bytes.length}`);
  });

  test('Range on an uncached blob (a resumed pull): 206 from the fill, and the whole blob is cached', async () => {
    const { bytes, digest } = newBlob(100_000);
    const part = await get(`/v2/library/app/blobs/${digest}`, { range: 'bytes=50000-' });
    expect(part.status).toBe(206);
    expect(part.body.equals(bytes.subarray(50000))).toBe(true);
    const whole = await get(`/v2/library/app/blobs/${digest}`);
    expect(whole.headers['x-cache']).toBe('HIT');
    expect(whole.body.equals(bytes)).toBe(true);
  });

  test('HEAD: Content-Length and Docker-Content-Digest, cached or not; no body', async () => {
    const { bytes, digest } = newBlob(10_000);
    const cold = await request(`${mirror.url}/v2/library/app/blobs/${digest}`, { method: 'HEAD' });
    await cold.body.dump();
    expect(cold.statusCode).toBe(200);
    expect(cold.headers['content-length']).toBe(String(bytes.length));
    expect(cold.headers['docker-content-digest']).toBe(digest);
    await get(`/v2/library/app/blobs/${digest}`);
    const warm = await request(`${mirror.url}/v2/library/app/blobs/${digest}`, { method: 'HEAD' });
    await warm.body.dump();
    expect(warm.headers['x-cache']).toBe('HIT');
    expect(warm.headers['content-length']).toBe(String(bytes.length));
  });

  test('unknown blob: 404 BLOB_UNKNOWN; malformed digest: 400 DIGEST_INVALID; never a 500', async () => {
    const missing = await get(`/v2/library/app/blobs/sha256:${'0'.repeat(64)}`);
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body.toString()).errors[0].code).toBe('BLOB_UNKNOWN');
    for (const bad of ['sha256:xyz', 'md5:abc', 'sha256:' + 'A'.repeat(64)]) {
      const res = await get(`/v2/library/app/blobs/${bad}`);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body.toString()).errors[0].code).toBe('DIGEST_INVALID');
    }
  });

  test('upstream down: a cached blob is still served; an uncached one is a 502 OCI error, no stack', async () => {
    const cachedBlob = newBlob(10_000);
    await get(`/v2/library/app/blobs/${cachedBlob.digest}`);
    const other = newBlob(10_000);
    up.faults.down = true;
    const hit = await get(`/v2/library/app/blobs/${cachedBlob.digest}`);
    expect(hit.status).toBe(200);
    expect(hit.body.equals(cachedBlob.bytes)).toBe(true);
    const miss = await get(`/v2/library/app/blobs/${other.digest}`);
    expect(miss.status).toBe(502);
    const body = JSON.parse(miss.body.toString());
    expect(body.errors[0].code).toBe('UPSTREAM_UNAVAILABLE');
    expect(miss.body.toString()).not.toMatch(/\n\s+at /);
  });

  test('a push to a mirrored repository is refused with DENIED', async () => {
    const res = await request(`${mirror.url}/v2/library/app/blobs/uploads/`, { method: 'POST' });
    await res.body.dump();
    expect(res.statusCode).toBe(403);
  });
});
