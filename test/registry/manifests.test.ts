/**
 * Manifests in a local namespace (OCI distribution-spec v1.1, "Pull", "Push" and
 * "Content Management" workflows: end-3, end-7, end-9): put by tag and by digest,
 * validation (MANIFEST_BLOB_UNKNOWN, MANIFEST_INVALID, DIGEST_INVALID, 413), subject,
 * exact bytes on the way back, and deletes, with what the index holds afterwards.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLocalRegistry, upstreamRequestsFor, type LocalRegistry } from '../helpers/local-registry.js';
import { imageIndex, imageManifest, MT, sha256, type Descriptor, type OciClient } from '../helpers/oci-client.js';

let reg: LocalRegistry;
let c: OciClient;
let n = 0;
const repo = () => `team/man-${++n}`;
const MiB = 1024 * 1024;

beforeAll(async () => {
  reg = await startLocalRegistry();
  c = reg.alice;
});
afterAll(async () => {
  await reg?.close();
});

/** Config and one layer pushed to `name`, for manifests that reference them. */
async function blobsIn(name: string): Promise<{ config: Descriptor; layers: Descriptor[] }> {
  const config = { ...(await c.pushBlob(name, Buffer.from(`{"os":"linux","n":${Math.random()}}`))), mediaType: MT.config };
  const layer = { ...(await c.pushBlob(name, randomBytes(2000))), mediaType: MT.layer };
  return { config, layers: [layer] };
}

/** An image manifest of `target` bytes exactly, padded with an annotation. */
function manifestOfSize(parts: { config: Descriptor; layers: Descriptor[] }, target: number): Buffer {
  const base = imageManifest({ ...parts, annotations: { pad: '' } });
  const padded = imageManifest({ ...parts, annotations: { pad: 'x'.repeat(target - base.length) } });
  expect(padded.length).toBe(target);
  return padded;
}

describe('PUT and GET (end-7, end-3)', () => {
  test('PUT by tag: 201, Location /v2/<name>/manifests/<digest>, Docker-Content-Digest; the index has the tag', async () => {
    const name = repo();
    const bytes = imageManifest(await blobsIn(name));
    const digest = sha256(bytes);
    const r = await c.putManifest(name, 'v1', bytes, MT.manifest);
    expect(r.status).toBe(201);
    expect(r.header('location')).toMatch(new RegExp(`/v2/${name}/manifests/${digest}$`));
    expect(r.header('docker-content-digest')).toBe(digest);
    expect(r.header('oci-subject')).toBe('');
    expect((await reg.mirror.ports.tags.getTag(name, 'v1'))?.digest).toBe(digest);
    expect(await reg.mirror.ports.manifests.hasRepoManifest(name, digest)).toBe(true);
    expect((await reg.mirror.ports.manifests.getManifest(digest))?.mediaType).toBe(MT.manifest);
  });

  test('GET and HEAD by tag and by digest: the bytes exactly as pushed, with their media type, digest and length', async () => {
    const name = repo();
    const bytes = imageManifest(await blobsIn(name));
    const digest = sha256(bytes);
    await c.pushManifest(name, 'latest', bytes, MT.manifest);
    for (const ref of ['latest', digest]) {
      const get = await c.call(`/v2/${name}/manifests/${ref}`, { headers: { accept: MT.manifest } });
      expect(get.status).toBe(200);
      expect(get.body.equals(bytes)).toBe(true);
      expect(get.header('content-type')).toBe(MT.manifest);
      expect(get.header('docker-content-digest')).toBe(digest);
      expect(get.header('content-length')).toBe(String(bytes.length));
      const head = await c.call(`/v2/${name}/manifests/${ref}`, { method: 'HEAD', headers: { accept: MT.manifest } });
      expect(head.status).toBe(200);
      expect(head.body.length).toBe(0);
      expect(head.header('content-type')).toBe(MT.manifest);
      expect(head.header('docker-content-digest')).toBe(digest);
      expect(head.header('content-length')).toBe(String(bytes.length));
    }
  });

  test('PUT by digest: 201 and served by that digest, without creating a tag', async () => {
    const name = repo();
    const bytes = imageManifest(await blobsIn(name));
    const digest = sha256(bytes);
    const r = await c.putManifest(name, digest, bytes, MT.manifest);
    expect(r.status).toBe(201);
    expect(r.header('location')).toMatch(new RegExp(`/v2/${name}/manifests/${digest}$`));
    expect((await c.call(`/v2/${name}/manifests/${digest}`)).body.equals(bytes)).toBe(true);
    expect(await reg.mirror.ports.manifests.hasRepoManifest(name, digest)).toBe(true);
  });

  test('PUT by a digest that is not the body\'s: 400 DIGEST_INVALID, nothing stored', async () => {
    const name = repo();
    const bytes = imageManifest(await blobsIn(name));
    const wrong = sha256('another manifest');
    const r = await c.putManifest(name, wrong, bytes, MT.manifest);
    expect(r.status).toBe(400);
    expect(r.codes()).toContain('DIGEST_INVALID');
    expect(await reg.mirror.ports.manifests.hasRepoManifest(name, sha256(bytes))).toBe(false);
    expect((await c.call(`/v2/${name}/manifests/${wrong}`)).status).toBe(404);
  });

  test('PUT to a malformed digest reference: 400 with an OCI error code (conformance "error codes")', async () => {
    const r = await c.putManifest(repo(), 'sha256:totallywrong', Buffer.from('{"invalid": true'), MT.manifest);
    expect(r.status).toBe(400);
    expect(r.codes().length).toBeGreaterThan(0);
  });

  test('an index over manifests of the repo: 201, served back with the index media type', async () => {
    const name = repo();
    const a = await c.pushImage(name, undefined);
    const b = await c.pushImage(name, undefined);
    const bytes = imageIndex({ manifests: [a.descriptor, b.descriptor] });
    const r = await c.putManifest(name, 'multi', bytes, MT.index);
    expect(r.status).toBe(201);
    const get = await c.call(`/v2/${name}/manifests/multi`);
    expect(get.header('content-type')).toBe(MT.index);
    expect(get.body.equals(bytes)).toBe(true);
  });

  test('Docker schema 2 manifest and manifest list are accepted and served with their media types', async () => {
    const name = repo();
    const parts = await blobsIn(name);
    const manifest = imageManifest({ config: { ...parts.config, mediaType: MT.dockerConfig }, layers: parts.layers.map((l) => ({ ...l, mediaType: MT.dockerLayer })), mediaType: MT.dockerManifest });
    const m = await c.pushManifest(name, 'docker', manifest, MT.dockerManifest);
    const list = imageIndex({ manifests: [m], mediaType: MT.dockerList });
    await c.pushManifest(name, 'docker-list', list, MT.dockerList);
    expect((await c.call(`/v2/${name}/manifests/docker`)).header('content-type')).toBe(MT.dockerManifest);
    const got = await c.call(`/v2/${name}/manifests/docker-list`);
    expect(got.header('content-type')).toBe(MT.dockerList);
    expect(got.body.equals(list)).toBe(true);
  });

  test('pushing another manifest to an existing tag moves the tag; the old one stays reachable by digest', async () => {
    const name = repo();
    const first = await c.pushImage(name, 'moving');
    const second = await c.pushImage(name, 'moving');
    expect((await c.call(`/v2/${name}/manifests/moving`)).header('docker-content-digest')).toBe(second.descriptor.digest);
    expect((await c.call(`/v2/${name}/manifests/${first.descriptor.digest}`)).status).toBe(200);
  });
});

describe('validation (end-7 errors)', () => {
  test('a layer that was not pushed to this repository: 400 MANIFEST_BLOB_UNKNOWN, no tag', async () => {
    const name = repo();
    const parts = await blobsIn(name);
    const ghost = { mediaType: MT.layer, digest: sha256(randomBytes(32)), size: 32 };
    const r = await c.putManifest(name, 't', imageManifest({ ...parts, layers: [...parts.layers, ghost] }), MT.manifest);
    expect(r.status).toBe(400);
    expect(r.codes()).toContain('MANIFEST_BLOB_UNKNOWN');
    expect(await reg.mirror.ports.tags.getTag(name, 't')).toBeUndefined();
    expect((await c.call(`/v2/${name}/manifests/t`)).status).toBe(404);
  });

  test('a config that was not pushed: 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const name = repo();
    const parts = await blobsIn(name);
    const config = { mediaType: MT.config, digest: sha256('{"missing":true}'), size: 16 };
    const r = await c.putManifest(name, 't', imageManifest({ config, layers: parts.layers }), MT.manifest);
    expect(r.status).toBe(400);
    expect(r.codes()).toContain('MANIFEST_BLOB_UNKNOWN');
  });

  test('blobs that exist only in another repository: 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const parts = await blobsIn(repo());
    const r = await c.putManifest(repo(), 't', imageManifest(parts), MT.manifest);
    expect(r.status).toBe(400);
    expect(r.codes()).toContain('MANIFEST_BLOB_UNKNOWN');
  });

  test('an index whose child manifest is not in the repository: 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const name = repo();
    const present = await c.pushImage(name, undefined);
    const other = await c.pushImage(repo(), undefined);
    const r = await c.putManifest(name, 'idx', imageIndex({ manifests: [present.descriptor, other.descriptor] }), MT.index);
    expect(r.status).toBe(400);
    expect(r.codes()).toContain('MANIFEST_BLOB_UNKNOWN');
    expect(await reg.mirror.ports.tags.getTag(name, 'idx')).toBeUndefined();
  });

  test('a body that is not JSON: 400 MANIFEST_INVALID', async () => {
    const r = await c.putManifest(repo(), 'broken', Buffer.from('{"schemaVersion": 2, "layers": ['), MT.manifest);
    expect(r.status).toBe(400);
    expect(r.codes()).toContain('MANIFEST_INVALID');
  });

  test('a body whose mediaType contradicts the Content-Type: 400 MANIFEST_INVALID', async () => {
    const name = repo();
    const img = await c.pushImage(name, undefined);
    const r = await c.putManifest(name, 'liar', imageIndex({ manifests: [img.descriptor] }), MT.manifest);
    expect(r.status).toBe(400);
    expect(r.codes()).toContain('MANIFEST_INVALID');
  });

  test('an invalid tag in the path: 400', async () => {
    const name = repo();
    const r = await c.putManifest(name, '.hidden', imageManifest(await blobsIn(name)), MT.manifest);
    expect(r.status).toBe(400);
    expect(r.codes().length).toBeGreaterThan(0);
  });

  test('a manifest of exactly 4 MiB is accepted byte for byte; one byte more is 413', async () => {
    const name = repo();
    const parts = await blobsIn(name);
    const max = manifestOfSize(parts, 4 * MiB);
    const ok = await c.putManifest(name, 'big', max, MT.manifest);
    expect(ok.status).toBe(201);
    expect((await c.call(`/v2/${name}/manifests/big`)).body.equals(max)).toBe(true);
    const tooBig = await c.putManifest(name, 'too-big', manifestOfSize(parts, 4 * MiB + 1), MT.manifest);
    expect(tooBig.status).toBe(413);
    expect(await reg.mirror.ports.tags.getTag(name, 'too-big')).toBeUndefined();
  });
});

describe('subject (OCI-Subject)', () => {
  test('a manifest with a subject answers OCI-Subject: <subject digest>, even when the subject does not exist', async () => {
    const name = repo();
    const subject = await c.pushImage(name, 'app');
    const absent = { mediaType: MT.manifest, digest: sha256('never pushed'), size: 12 };
    for (const s of [subject.descriptor, absent]) {
      const bytes = imageManifest({ ...(await blobsIn(name)), subject: s, artifactType: 'application/vnd.example.sig' });
      const r = await c.putManifest(name, sha256(bytes), bytes, MT.manifest);
      expect(r.status).toBe(201);
      expect(r.header('oci-subject')).toBe(s.digest);
      expect((await reg.mirror.ports.manifests.getManifest(sha256(bytes)))?.subject).toBe(s.digest);
    }
  });
});

describe('DELETE (end-9)', () => {
  test('by digest: 202; then GET by digest and by each of its tags is 404 MANIFEST_UNKNOWN and the tags are gone', async () => {
    const name = repo();
    const img = await c.pushImage(name, 'one');
    await c.pushManifest(name, 'two', img.manifest, MT.manifest);
    const keep = await c.pushImage(name, 'keep');
    const del = await c.call(`/v2/${name}/manifests/${img.descriptor.digest}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    for (const ref of [img.descriptor.digest, 'one', 'two']) {
      const r = await c.call(`/v2/${name}/manifests/${ref}`);
      expect(r.status).toBe(404);
      expect(r.codes()).toContain('MANIFEST_UNKNOWN');
    }
    expect(await reg.mirror.ports.manifests.hasRepoManifest(name, img.descriptor.digest)).toBe(false);
    expect(await reg.mirror.ports.tags.getTag(name, 'one')).toBeUndefined();
    const tags = await c.call(`/v2/${name}/tags/list`);
    expect(tags.json<{ tags: string[] }>().tags).toEqual(['keep']);
    expect((await c.call(`/v2/${name}/manifests/${keep.descriptor.digest}`)).status).toBe(200);
  });

  test('by tag: 202 removes only that tag; the manifest and its other tags stay', async () => {
    const name = repo();
    const img = await c.pushImage(name, 'a');
    await c.pushManifest(name, 'b', img.manifest, MT.manifest);
    expect((await c.call(`/v2/${name}/manifests/a`, { method: 'DELETE' })).status).toBe(202);
    const gone = await c.call(`/v2/${name}/manifests/a`);
    expect(gone.status).toBe(404);
    expect(gone.codes()).toContain('MANIFEST_UNKNOWN');
    expect((await c.call(`/v2/${name}/manifests/b`)).body.equals(img.manifest)).toBe(true);
    expect((await c.call(`/v2/${name}/manifests/${img.descriptor.digest}`)).status).toBe(200);
    expect(await reg.mirror.ports.tags.getTag(name, 'a')).toBeUndefined();
  });

  test('a manifest pushed to two repositories and deleted in one is still served by the other', async () => {
    const [x, y] = [repo(), repo()];
    const img = await c.pushImage(x, 'v');
    // The same bytes need the same blobs in y: mount them, then push the identical manifest.
    for (const d of [img.config, ...img.layers]) {
      expect((await c.call(`/v2/${y}/blobs/uploads/?mount=${d.digest}&from=${x}`, { method: 'POST' })).status).toBe(201);
    }
    await c.pushManifest(y, 'v', img.manifest, MT.manifest);
    expect((await c.call(`/v2/${x}/manifests/${img.descriptor.digest}`, { method: 'DELETE' })).status).toBe(202);
    expect((await c.call(`/v2/${y}/manifests/v`)).body.equals(img.manifest)).toBe(true);
  });

  test.each([['an unknown digest', () => sha256(randomBytes(8))], ['an unknown tag', () => 'nope']])('DELETE %s: 404 MANIFEST_UNKNOWN', async (_what, ref) => {
    const name = repo();
    await c.pushImage(name, 'exists');
    const r = await c.call(`/v2/${name}/manifests/${ref()}`, { method: 'DELETE' });
    expect(r.status).toBe(404);
    expect(r.codes()).toContain('MANIFEST_UNKNOWN');
  });
});

describe('unknown manifests never reach the upstream', () => {
  test.each([['tag', 'latest'], ['digest', sha256('x')]])('GET and HEAD of an unknown local %s: 404 MANIFEST_UNKNOWN, no upstream request', async (_kind, ref) => {
    const name = repo();
    const get = await c.call(`/v2/${name}/manifests/${ref}`);
    expect(get.status).toBe(404);
    expect(get.codes()).toContain('MANIFEST_UNKNOWN');
    expect(get.header('docker-distribution-api-version')).toBe('registry/2.0');
    expect((await c.call(`/v2/${name}/manifests/${ref}`, { method: 'HEAD' })).status).toBe(404);
    expect(upstreamRequestsFor(reg.up, name)).toEqual([]);
  });

  test('a malformed digest reference: 400 DIGEST_INVALID (or 404), never a 5xx', async () => {
    const r = await c.call(`/v2/${repo()}/manifests/sha256:not-a-digest`);
    expect([400, 404]).toContain(r.status);
    expect(r.codes().length).toBeGreaterThan(0);
  });
});
