/**
 * Manifests through the mirror against the fake upstream: tag TTL, HEAD revalidation,
 * stale serving when the upstream fails, single-flight, names and ?ns=.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startFakeUpstream, type FakeImage, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';

const TTL = 60_000;
let up: FakeUpstream;
let mirror: MirrorApp;
let repoSeq = 0;

beforeAll(async () => {
  up = await startFakeUpstream();
  mirror = await startMirrorApp(up.url, { MIRROR_UPSTREAM_TAG_TTL: '60s', MIRROR_UPSTREAM_TIMEOUT: '1s' });
});
afterAll(async () => {
  await mirror?.close();
  await up?.close();
});
afterEach(() => up.reset());

/** A fresh repository library/<name> with one image tagged `latest`. */
function newRepo(): { name: string; image: FakeImage } {
  const name = `app${++repoSeq}`;
  return { name, image: up.addImage(`library/${name}`, 'latest', { layers: [randomBytes(1000)], mediaType: 'docker' }) };
}

async function fetchManifest(path: string, method: 'GET' | 'HEAD' = 'GET') {
  const res = await request(`${mirror.url}${path}`, { method });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

/** Upstream manifest requests that were answered (a first 401 for the token dance is not one). */
const upstreamManifests = (method: 'GET' | 'HEAD', repo: string) =>
  up.count({ method, kind: 'manifest', repo }) - up.count({ method, kind: 'manifest', repo, status: 401 });

describe('manifests by tag', () => {
  test('MISS then HIT within the TTL: exact bytes, media type, digest and length; one upstream GET', async () => {
    const { name, image } = newRepo();
    const cold = await fetchManifest(`/v2/library/${name}/manifests/latest`);
    expect(cold.status).toBe(200);
    expect(cold.headers['x-cache']).toBe('MISS');
    expect(cold.body.equals(image.manifest)).toBe(true);
    expect(cold.headers['content-type']).toBe(image.mediaType);
    expect(cold.headers['docker-content-digest']).toBe(image.digest);
    expect(cold.headers['content-length']).toBe(String(image.manifest.length));

    const warm = await fetchManifest(`/v2/library/${name}/manifests/latest`);
    expect(warm.headers['x-cache']).toBe('HIT');
    expect(warm.body.equals(image.manifest)).toBe(true);
    const head = await fetchManifest(`/v2/library/${name}/manifests/latest`, 'HEAD');
    expect(head.headers['docker-content-digest']).toBe(image.digest);
    expect(head.headers['content-length']).toBe(String(image.manifest.length));
    expect(head.body.length).toBe(0);
    expect(upstreamManifests('GET', `library/${name}`)).toBe(1);
    expect(upstreamManifests('HEAD', `library/${name}`)).toBe(0);
  });

  test('after the TTL: revalidated with one HEAD (no GET) while the digest is unchanged', async () => {
    const { name, image } = newRepo();
    await fetchManifest(`/v2/library/${name}/manifests/latest`);
    mirror.advance(TTL + 1);
    const again = await fetchManifest(`/v2/library/${name}/manifests/latest`);
    expect(again.headers['x-cache']).toBe('REVALIDATED');
    expect(again.body.equals(image.manifest)).toBe(true);
    expect(upstreamManifests('GET', `library/${name}`)).toBe(1);
    expect(upstreamManifests('HEAD', `library/${name}`)).toBe(1);
    // Fresh again for another TTL.
    expect((await fetchManifest(`/v2/library/${name}/manifests/latest`)).headers['x-cache']).toBe('HIT');
  });

  test('after the TTL, a moved tag is fetched again (HEAD saw a new digest, then one GET)', async () => {
    const { name } = newRepo();
    await fetchManifest(`/v2/library/${name}/manifests/latest`);
    const moved = up.addImage(`library/${name}`, 'latest', { layers: [randomBytes(1000)] });
    mirror.advance(TTL + 1);
    const res = await fetchManifest(`/v2/library/${name}/manifests/latest`);
    expect(res.headers['x-cache']).toBe('MISS');
    expect(res.headers['docker-content-digest']).toBe(moved.digest);
    expect(res.body.equals(moved.manifest)).toBe(true);
    expect(upstreamManifests('GET', `library/${name}`)).toBe(2);
  });

  test.each([
    ['down', () => { up.faults.down = true; }],
    ['answering 503', () => { up.faults.status = 503; }],
    ['rate-limiting (429)', () => { up.faults.status = 429; }],
    ['too slow', () => { up.faults.delayMs = 3000; }],
  ])('upstream %s after the TTL: the cached manifest is served STALE with a Warning', async (_name, fault) => {
    const { name, image } = newRepo();
    await fetchManifest(`/v2/library/${name}/manifests/latest`);
    mirror.advance(TTL + 1);
    fault();
    const stale = await fetchManifest(`/v2/library/${name}/manifests/latest`);
    expect(stale.status).toBe(200);
    expect(stale.headers['x-cache']).toBe('STALE');
    expect(stale.headers['warning']).toMatch(/^299 - "/);
    expect(stale.body.equals(image.manifest)).toBe(true);
    // A rate-limited upstream is never asked again with a GET.
    expect(upstreamManifests('GET', `library/${name}`)).toBe(1);
  });

  test('nothing cached and upstream down / slow: a clear OCI error (502 / 504), no stack', async () => {
    const { name } = newRepo();
    up.faults.down = true;
    const down = await fetchManifest(`/v2/library/${name}/manifests/latest`);
    expect(down.status).toBe(502);
    expect(JSON.parse(down.body.toString()).errors[0].code).toBe('UPSTREAM_UNAVAILABLE');
    up.reset();
    up.faults.delayMs = 3000;
    const slow = await fetchManifest(`/v2/library/${name}/manifests/latest`);
    expect(slow.status).toBe(504);
    expect(JSON.parse(slow.body.toString()).errors[0].code).toBe('UPSTREAM_TIMEOUT');
  });

  test('nothing cached and the upstream rate-limits: 429 TOOMANYREQUESTS', async () => {
    const { name } = newRepo();
    up.faults.rateLimit = true;
    const res = await fetchManifest(`/v2/library/${name}/manifests/latest`);
    expect(res.status).toBe(429);
    expect(JSON.parse(res.body.toString()).errors[0].code).toBe('TOOMANYREQUESTS');
  });

  test('a tag removed upstream is a 404 MANIFEST_UNKNOWN once revalidated', async () => {
    const { name } = newRepo();
    await fetchManifest(`/v2/library/${name}/manifests/latest`);
    up.removeTag(`library/${name}`, 'latest');
    mirror.advance(TTL + 1);
    const res = await fetchManifest(`/v2/library/${name}/manifests/latest`);
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body.toString()).errors[0].code).toBe('MANIFEST_UNKNOWN');
  });

  test('10 concurrent cold requests of one tag: one upstream GET, ten identical answers', async () => {
    const { name, image } = newRepo();
    up.faults.delayMs = 100;
    const all = await Promise.all(Array.from({ length: 10 }, () => fetchManifest(`/v2/library/${name}/manifests/latest`)));
    for (const r of all) expect(r.body.equals(image.manifest)).toBe(true);
    expect(upstreamManifests('GET', `library/${name}`)).toBe(1);
  });
});

describe('manifests by digest, names and ns', () => {
  test('by digest: immutable, served from cache even when the upstream is down', async () => {
    const { name, image } = newRepo();
    const cold = await fetchManifest(`/v2/library/${name}/manifests/${image.digest}`);
    expect(cold.headers['x-cache']).toBe('MISS');
    expect(cold.body.equals(image.manifest)).toBe(true);
    up.faults.down = true;
    mirror.advance(10 * TTL);
    const warm = await fetchManifest(`/v2/library/${name}/manifests/${image.digest}`);
    expect(warm.headers['x-cache']).toBe('HIT');
    expect(warm.body.equals(image.manifest)).toBe(true);
  });

  test('"alpine" and "library/alpine" are one repository with one cache', async () => {
    const { name, image } = newRepo();
    const short = await fetchManifest(`/v2/${name}/manifests/latest`);
    expect(short.body.equals(image.manifest)).toBe(true);
    const long = await fetchManifest(`/v2/library/${name}/manifests/latest`);
    expect(long.headers['x-cache']).toBe('HIT');
    expect(upstreamManifests('GET', `library/${name}`)).toBe(1);
  });

  test('?ns=docker.io (containerd) is served; another ns is NAME_UNKNOWN (containerd moves on)', async () => {
    const { name, image } = newRepo();
    const ok = await fetchManifest(`/v2/library/${name}/manifests/latest?ns=docker.io`);
    expect(ok.body.equals(image.manifest)).toBe(true);
    const other = await fetchManifest(`/v2/library/${name}/manifests/latest?ns=ghcr.io`);
    expect(other.status).toBe(404);
    expect(JSON.parse(other.body.toString()).errors[0].code).toBe('NAME_UNKNOWN');
  });

  test('an OCI index and its children by digest keep their media types and bytes', async () => {
    const name = `multi${++repoSeq}`;
    const a = up.addImage(`library/${name}`, undefined, { layers: [randomBytes(100)] });
    const b = up.addImage(`library/${name}`, undefined, { layers: [randomBytes(100)] });
    const index = up.addIndex(`library/${name}`, 'latest', [a.digest, b.digest], 'oci');
    const top = await fetchManifest(`/v2/library/${name}/manifests/latest`);
    expect(top.headers['content-type']).toBe('application/vnd.oci.image.index.v1+json');
    expect(top.body.equals(index.manifest)).toBe(true);
    const child = await fetchManifest(`/v2/library/${name}/manifests/${b.digest}`);
    expect(child.body.equals(b.manifest)).toBe(true);
    expect(child.headers['content-type']).toBe('application/vnd.oci.image.manifest.v1+json');
  });

  test('invalid names and references are 400s; writes are DENIED', async () => {
    expect((await fetchManifest('/v2/Library/UPPER/manifests/latest')).status).toBe(400);
    expect((await fetchManifest('/v2/library/x/manifests/sha256:nothex')).status).toBe(400);
    const put = await request(`${mirror.url}/v2/library/x/manifests/latest`, { method: 'PUT', body: '{}' });
    await put.body.dump();
    expect(put.statusCode).toBe(403);
  });
});

describe('tags list', () => {
  test('asks the upstream with n/last and answers with a Link to the next page', async () => {
    const name = `tags${++repoSeq}`;
    for (const t of ['a', 'b', 'c', 'd']) up.addImage(`library/${name}`, t, { layers: [randomBytes(10)] });
    const first = await fetchManifest(`/v2/library/${name}/tags/list?n=2`);
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body.toString())).toEqual({ name: `library/${name}`, tags: ['a', 'b'] });
    expect(first.headers['link']).toBe(`</v2/library/${name}/tags/list?n=2&last=b>; rel="next"`);
    const second = await fetchManifest(`/v2/library/${name}/tags/list?n=2&last=b`);
    expect(JSON.parse(second.body.toString()).tags).toEqual(['c', 'd']);
  });

  test('upstream down: the cached tags are listed, with a Warning', async () => {
    const name = `tags${++repoSeq}`;
    for (const t of ['v1', 'v2', 'v3']) up.addImage(`library/${name}`, t, { layers: [randomBytes(10)] });
    await fetchManifest(`/v2/library/${name}/manifests/v1`);
    await fetchManifest(`/v2/library/${name}/manifests/v3`);
    up.faults.down = true;
    const res = await fetchManifest(`/v2/library/${name}/tags/list`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString()).tags).toEqual(['v1', 'v3']);
    expect(res.headers['warning']).toMatch(/^299/);
  });
});

describe('upstream.url copied with its /v2/', () => {
  test('is normalised: pulls work instead of a silent 404 at /v2/v2/', async () => {
    const copied = await startMirrorApp(`${up.url}/v2/`);
    try {
      expect(copied.config.upstream.url).toBe(up.url);
      const { name, image } = newRepo();
      const res = await request(`${copied.url}/v2/library/${name}/manifests/latest`);
      await res.body.arrayBuffer();
      expect(res.statusCode).toBe(200);
      expect(res.headers['docker-content-digest']).toBe(image.digest);
      expect(up.count({ path: /^\/v2\/v2\// })).toBe(0);
    } finally {
      await copied.close();
    }
  });
});
