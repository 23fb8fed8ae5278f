/**
 * Issue 7, findings 5 and 6: manifest media types are validated (RFC 6838, JSON manifest
 * types only; never text/html, never CR/LF or parameters), whether pushed (400
 * MANIFEST_INVALID) or fetched (502, nothing stored); each repository serves a digest with
 * its own media type; JSON nested too deep is refused, never a 500.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { MT, sha256 } from '../helpers/oci-client.js';
import { startPrivateMirror, type PrivateMirror } from '../helpers/private-mirror.js';

let up: FakeUpstream;
let pm: PrivateMirror;
let seq = 0;

beforeAll(async () => {
  up = await startFakeUpstream();
  pm = await startPrivateMirror(up.url);
});
afterAll(async () => {
  await pm?.close();
  await up?.close();
});
afterEach(() => up.reset());

/** Config + one layer, and a manifest over them (with `mediaType` only when given). */
function image(mediaType?: string, extra: Record<string, unknown> = {}) {
  const config = Buffer.from(JSON.stringify({ os: 'linux', n: randomBytes(8).toString('hex') }));
  const layer = randomBytes(500);
  const doc: Record<string, unknown> = { schemaVersion: 2 };
  if (mediaType !== undefined) doc.mediaType = mediaType;
  doc.config = { mediaType: MT.dockerConfig, digest: sha256(config), size: config.length };
  doc.layers = [{ mediaType: MT.dockerLayer, digest: sha256(layer), size: layer.length }];
  const manifest = Buffer.from(JSON.stringify({ ...doc, ...extra }));
  return { config, layer, manifest, digest: sha256(manifest) };
}

const deep = (n: number) => ({ annotations: { a: JSON.parse('['.repeat(n) + ']'.repeat(n)) as unknown } });
/** 5,000 levels, written by hand: JSON.stringify itself overflows on such input. */
function deepManifest() {
  const img = image(MT.manifest);
  const text = img.manifest.toString().replace(/}$/, `,"annotations":{"a":${'['.repeat(5000)}${']'.repeat(5000)}}}`);
  const manifest = Buffer.from(text);
  return { ...img, manifest, digest: sha256(manifest) };
}

describe('manifests from the upstream', () => {
  test.each([
    ['a text/html mediaType', () => image('text/html'), 'text/html'],
    ['a mediaType with CR/LF', () => image(`${MT.manifest}\r\nX-Injected: 1`), MT.manifest],
    ['a mediaType with parameters', () => image(`${MT.manifest}; charset=utf-8`), MT.manifest],
    ['no mediaType and a text/html Content-Type', () => image(), 'text/html'],
    ['JSON nested 5,000 deep', deepManifest, MT.manifest],
  ])('%s: 502 UPSTREAM_UNAVAILABLE "invalid manifest", nothing stored, and the same again', async (_what, make, contentType) => {
    const name = `library/bad${++seq}`;
    const img = make();
    up.addManifest(name, img.manifest, contentType, 'latest');
    for (const ref of ['latest', 'latest', img.digest]) {
      const r = await pm.anon.call(`/v2/${name}/manifests/${ref}`);
      expect(r.status).toBe(502);
      expect(r.codes()).toEqual(['UPSTREAM_UNAVAILABLE']);
      expect(r.json<{ errors: Array<{ message: string }> }>().errors[0]!.message).toMatch(/invalid manifest/);
      expect(r.body.includes(img.manifest)).toBe(false);
    }
    expect(await pm.mirror.ports.manifests.getManifest(img.digest)).toBeUndefined();
    expect(await pm.mirror.ports.tags.getTag(pm.cacheRepo(name), 'latest')).toBeUndefined();
  });
});

describe('rows stored before media types were validated', () => {
  test('a stored media type with CR/LF or text/html is served as application/octet-stream (fast path and full path)', async () => {
    for (const bad of [`${MT.manifest}\r\nX-Injected: 1`, 'text/html']) {
      const name = `library/legacy${++seq}`;
      const img = image(MT.manifest);
      const repo = pm.cacheRepo(name);
      await pm.mirror.ports.repositories.ensureRepository(repo, 'mirror', pm.mirror.config.upstream.name, Date.now());
      await pm.mirror.ports.manifests.putManifest(repo, {
        digest: img.digest, mediaType: bad, size: img.manifest.length, bytes: img.manifest, subject: null, artifactType: null, annotations: null,
      }, [], Date.now());
      await pm.mirror.ports.tags.putTag(repo, 'latest', img.digest, Date.now());
      for (const path of [`/v2/${name}/manifests/latest`, `/v2/${name}/manifests/latest`, `/v2/${name}/manifests/${img.digest}`]) {
        const r = await pm.anon.call(path);
        expect(r.status).toBe(200);
        expect(r.header('content-type')).toBe('application/octet-stream');
        expect(r.header('x-injected')).toBe('');
        expect(r.body.equals(img.manifest)).toBe(true);
      }
    }
  });
});

describe('pushed manifests', () => {
  async function pushParts(repo: string, img: ReturnType<typeof image>) {
    await pm.pusher.pushBlob(repo, img.config);
    await pm.pusher.pushBlob(repo, img.layer);
  }

  test.each([
    ['a text/html mediaType', () => image('text/html'), 'text/html'],
    ['a mediaType with CR/LF', () => image(`${MT.manifest}\r\nX-Injected: 1`), 'application/json'],
    ['a mediaType with parameters', () => image(`${MT.manifest}; charset=utf-8`), 'application/json'],
    ['no mediaType and a text/html Content-Type', () => image(), 'text/html'],
    ['an SVG Content-Type', () => image(), 'image/svg+xml'],
    ['JSON nested 5,000 deep', deepManifest, MT.manifest],
    ['JSON nested 65 deep', () => image(MT.manifest, deep(65)), MT.manifest],
  ])('%s: 400 MANIFEST_INVALID, nothing stored', async (_what, make, contentType) => {
    const repo = `private/push${++seq}`;
    const img = make();
    await pushParts(repo, img);
    const r = await pm.pusher.putManifest(repo, 'v1', img.manifest, contentType);
    expect(r.status).toBe(400);
    expect(r.codes()).toEqual(['MANIFEST_INVALID']);
    expect(await pm.mirror.ports.manifests.getManifest(img.digest)).toBeUndefined();
    expect((await pm.pusher.call(`/v2/${repo}/manifests/v1`)).status).toBe(404);
  });

  test('annotations a few levels deep are fine', async () => {
    const repo = `private/push${++seq}`;
    const img = image(MT.manifest, deep(10));
    await pushParts(repo, img);
    expect((await pm.pusher.putManifest(repo, 'v1', img.manifest, MT.manifest)).status).toBe(201);
  });
});

describe('the media type belongs to the repository link', () => {
  /** The same bytes (no mediaType field): upstream serves them as a Docker manifest, the pusher says OCI. */
  function shared() {
    const img = image();
    up.addBlob(img.config);
    up.addBlob(img.layer);
    const name = `library/shared${++seq}`;
    up.addManifest(name, img.manifest, MT.dockerManifest, 'latest');
    return { img, name, local: `private/shared${seq}` };
  }

  async function expectServedAs(path: string, type: string, auth: 'anon' | 'pusher' = 'anon') {
    const r = await pm[auth].call(path);
    expect(r.status, path).toBe(200);
    expect(r.header('content-type'), path).toBe(type);
    return r;
  }

  test('a pusher writing the bytes first does not change what mirror clients get (MISS, HIT, by digest)', async () => {
    const { img, name, local } = shared();
    await pm.pusher.pushBlob(local, img.config);
    await pm.pusher.pushBlob(local, img.layer);
    expect((await pm.pusher.putManifest(local, 'v1', img.manifest, MT.manifest)).status).toBe(201);

    expect((await expectServedAs(`/v2/${name}/manifests/latest`, MT.dockerManifest)).header('x-cache')).toBe('MISS');
    expect((await expectServedAs(`/v2/${name}/manifests/latest`, MT.dockerManifest)).header('x-cache')).toBe('HIT');
    await expectServedAs(`/v2/${name}/manifests/${img.digest}`, MT.dockerManifest);
    await expectServedAs(`/v2/${local}/manifests/v1`, MT.manifest, 'pusher');
  });

  test('a mirror fetch first does not change what the pusher\'s repository serves', async () => {
    const { img, name, local } = shared();
    await expectServedAs(`/v2/${name}/manifests/latest`, MT.dockerManifest);
    await pm.pusher.pushBlob(local, img.config);
    await pm.pusher.pushBlob(local, img.layer);
    expect((await pm.pusher.putManifest(local, 'v1', img.manifest, MT.manifest)).status).toBe(201);
    await expectServedAs(`/v2/${local}/manifests/v1`, MT.manifest, 'pusher');
    await expectServedAs(`/v2/${local}/manifests/${img.digest}`, MT.manifest, 'pusher');
    await expectServedAs(`/v2/${name}/manifests/latest`, MT.dockerManifest);
  });
});
