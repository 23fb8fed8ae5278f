/**
 * Evicting one cached image on purpose (issue 11, item 2): `registry-mirror evict
 * NAME:TAG|NAME@DIGEST` and evictImage, against a mirror filled from the fake upstream.
 * One image goes (its manifests, tag and blobs); nothing it shares with another does,
 * and it pulls again from the upstream.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { evictImage, parseImageRef } from '../../src/admin/evict.js';
import { parseReference } from '../../src/oci/names.js';
import { MEDIA_TYPES, sha256, startFakeUpstream, type FakeImage, type FakeUpstream } from '../helpers/fake-upstream.js';
import { makeHtpasswd } from '../helpers/htpasswd.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

let up: FakeUpstream;
let mirror: MirrorApp;

beforeEach(async () => {
  up = await startFakeUpstream();
  mirror = await startMirrorApp(up.url);
});
afterEach(async () => {
  await mirror.close();
  await up.close();
});

async function get(path: string, accept = `${MEDIA_TYPES.oci.manifest},${MEDIA_TYPES.oci.index}`) {
  const res = await request(`${mirror.url}${path}`, { headers: { accept } });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, cache: res.headers['x-cache'], body };
}

/** Pulls an image as a client does: manifest by tag, then config and layers. */
async function pull(repo: string, tag: string, img: FakeImage): Promise<void> {
  expect((await get(`/v2/${repo}/manifests/${tag}`)).status).toBe(200);
  for (const d of [img.config, ...img.layers]) expect((await get(`/v2/${repo}/blobs/${d}`)).status).toBe(200);
}

/** Digests of the blob files on disk. */
const cachedBlobs = () => new Set(mirror.blobFiles().map((f) => `sha256:${f.split('/').pop()}`));
const deps = () => ({ index: mirror.ports.maintenance, tags: mirror.ports.tags, store: mirror.store, events: mirror.events });
const blobGets = () => up.count({ method: 'GET', kind: 'blob', status: 200 }) + up.count({ method: 'GET', kind: 'blob', status: 307 });

/** Two images sharing their first layer, both pulled through the mirror. */
async function twoImagesSharingALayer() {
  const shared = randomBytes(2048);
  const a = up.addImage('library/a', '1', { layers: [shared, randomBytes(3000)] });
  const b = up.addImage('library/b', '1', { layers: [shared, randomBytes(4000)] });
  await pull('library/a', '1', a);
  await pull('library/b', '1', b);
  return { a, b, shared: sha256(shared) };
}

describe('evictImage', () => {
  test('removes one image (manifest, tag, own blobs) and nothing it shares with another; it pulls again', async () => {
    const { a, b, shared } = await twoImagesSharingALayer();
    const summary = await evictImage(deps(), 'docker.io/library/a', parseReference('1'));

    expect(summary).toMatchObject({ repository: 'docker.io/library/a', reference: '1', manifests: [a.digest], blobs: 2 });
    const files = cachedBlobs();
    expect(files.has(a.config)).toBe(false);
    expect(files.has(a.layers[1]!)).toBe(false);
    expect(files.has(shared)).toBe(true);
    for (const d of [b.config, ...b.layers]) expect(files.has(d)).toBe(true);
    expect(await mirror.ports.tags.getTag('docker.io/library/a', '1')).toBeUndefined();
    expect(await mirror.ports.tags.getTag('docker.io/library/b', '1')).toBeDefined();
    // The other image is still served from the cache, every blob a HIT.
    up.reset();
    for (const d of [b.config, ...b.layers]) expect((await get(`/v2/library/b/blobs/${d}`)).cache).toBe('HIT');
    expect(blobGets()).toBe(0);
    // The evicted one pulls again: its own blobs come from the upstream, the shared one not.
    expect((await get(`/v2/library/a/manifests/${a.digest}`)).cache).toBe('MISS');
    await pull('library/a', '1', a);
    expect(blobGets()).toBe(2);
  });

  test('an index by digest: the index and its platform manifests and their blobs go', async () => {
    const amd = up.addImage('library/m', undefined, { layers: [randomBytes(1000)] });
    const arm = up.addImage('library/m', undefined, { layers: [randomBytes(1100)] });
    const index = up.addIndex('library/m', 'latest', [amd.digest, arm.digest]);
    expect((await get('/v2/library/m/manifests/latest')).status).toBe(200);
    for (const img of [amd, arm]) {
      expect((await get(`/v2/library/m/manifests/${img.digest}`)).status).toBe(200);
      for (const d of [img.config, ...img.layers]) expect((await get(`/v2/library/m/blobs/${d}`)).status).toBe(200);
    }
    expect(cachedBlobs().size).toBe(4);

    const summary = await evictImage(deps(), 'docker.io/library/m', parseReference(index.digest));
    expect(new Set(summary.manifests)).toEqual(new Set([index.digest, amd.digest, arm.digest]));
    expect(summary.blobs).toBe(4);
    expect(cachedBlobs().size).toBe(0);
    expect(await mirror.ports.tags.getTag('docker.io/library/m', 'latest')).toBeUndefined();
    expect((await mirror.ports.maintenance.stats()).manifests).toBe(0);
  });

  test('an image the repository does not have: MANIFEST_UNKNOWN, nothing removed', async () => {
    const { b } = await twoImagesSharingALayer();
    await expect(evictImage(deps(), 'docker.io/library/a', parseReference('2'))).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    await expect(evictImage(deps(), 'docker.io/library/c', parseReference(b.digest))).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    expect(cachedBlobs().size).toBe(5);
  });
});

describe('parseImageRef', () => {
  test('NAME:TAG, NAME@DIGEST, NAME:TAG@DIGEST; a bare name or no reference is refused', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseImageRef('docker.io/library/alpine:3.20')).toEqual({ repo: 'docker.io/library/alpine', ref: { kind: 'tag', tag: '3.20' } });
    expect(parseImageRef(`docker.io/library/alpine@${digest}`)).toMatchObject({ repo: 'docker.io/library/alpine', ref: { kind: 'digest' } });
    expect(parseImageRef(`localhost:5000/x/y:1@${digest}`)).toMatchObject({ repo: 'localhost:5000/x/y', ref: { kind: 'digest' } });
    expect(() => parseImageRef('docker.io/library/alpine')).toThrow(/NAME:TAG/);
    expect(() => parseImageRef('alpine:3.20')).toThrow(/docker.io\/library\/alpine/);
  });
});

describe('registry-mirror evict', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, 'evict', ...args], {
    encoding: 'utf8', env: { PATH: process.env.PATH, MIRROR_STORAGE_PATH: mirror.dataDir, MIRROR_LOG_LEVEL: 'error' },
  });

  test('evicts one image by tag and prints a summary; the other keeps its blobs', async () => {
    const { a, b, shared } = await twoImagesSharingALayer();
    const run = cli('docker.io/library/a:1');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ repository: 'docker.io/library/a', reference: '1', manifests: [a.digest], blobs: 2 });
    const files = cachedBlobs();
    expect([a.config, a.layers[1]!].some((d) => files.has(d))).toBe(false);
    for (const d of [shared, b.config, ...b.layers]) expect(files.has(d)).toBe(true);
  });

  test('not cached: exit 1 with a message; a bad reference or none: exit 2', async () => {
    const missing = cli('docker.io/library/nothing:1');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/not in the cache/);
    expect(cli('alpine').status).toBe(2);
    expect(cli().status).toBe(2);
  });
});

describe('admin DELETE /v2/<mirrored name>/manifests/<ref>', () => {
  const basic = (user: string) => `Basic ${Buffer.from(`${user}:pw-${user}`).toString('base64')}`;
  const del = async (path: string, user?: string) => {
    const res = await request(`${mirror.url}${path}`, { method: 'DELETE', headers: user ? { authorization: basic(user) } : {} });
    const body = await res.body.text();
    return { status: res.statusCode, body };
  };

  test('without auth.admins nobody may: a loopback caller (admin of /admin/* then) is refused 403 DENIED, nothing goes', async () => {
    await twoImagesSharingALayer();
    const r = await del('/v2/library/a/manifests/1');
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).errors[0].code).toBe('DENIED');
    expect(cachedBlobs().size).toBe(5);
    expect((await get('/v2/library/a/manifests/1')).cache).toBe('HIT');
  });

  test('an admin evicts the image (and nothing shared); bob and anonymous are refused and nothing goes', async () => {
    const users = makeHtpasswd({ alice: 'pw-alice', bob: 'pw-bob' });
    await mirror.close();
    mirror = await startMirrorApp(up.url, { MIRROR_AUTH_HTPASSWD: users.file, MIRROR_AUTH_ADMINS: 'alice' });
    try {
      const { a, b, shared } = await twoImagesSharingALayer();
      const bob = await del('/v2/library/a/manifests/1', 'bob');
      expect(bob.status).toBe(403);
      expect(JSON.parse(bob.body).errors[0].code).toBe('DENIED');
      expect((await del(`/v2/library/a/manifests/${a.digest}`)).status).toBe(403);
      expect(cachedBlobs().size).toBe(5);

      const alice = await del('/v2/library/a/manifests/1', 'alice');
      expect(alice.status).toBe(202);
      const files = cachedBlobs();
      expect([a.config, a.layers[1]!].some((d) => files.has(d))).toBe(false);
      for (const d of [shared, b.config, ...b.layers]) expect(files.has(d)).toBe(true);
      expect(await mirror.ports.tags.getTag('docker.io/library/a', '1')).toBeUndefined();
      expect((await del('/v2/library/a/manifests/1', 'alice')).status).toBe(404);
      // The tag is gone from the server's memory too: the next pull by tag asks the upstream.
      up.reset();
      expect((await get('/v2/library/a/manifests/1')).cache).toBe('MISS');
      expect(up.count({ method: 'GET', kind: 'manifest', status: 200 })).toBe(1);
      // Pushes to a mirrored name stay refused, for the admin too.
      const post = await request(`${mirror.url}/v2/library/a/blobs/uploads/`, { method: 'POST', headers: { authorization: basic('alice') } });
      await post.body.dump();
      expect(post.statusCode).toBe(403);
    } finally {
      users.remove();
    }
  });
});
