/**
 * Issue 7, finding 2: content reaches a mirrored name only if that repository already
 * references it, or the upstream confirmed it for that repository. Pushed (private)
 * content is never served through a mirrored name, whatever the upstream does: down,
 * slow, 5xx, 429, a token service that refuses, or an upstream that answers HEAD 200 for
 * anything. Nothing is linked on a failure path.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import type { Reply } from '../helpers/oci-client.js';
import { startPrivateMirror, type PrivateMirror } from '../helpers/private-mirror.js';

/** What a pusher put in private/secret: the bytes that must never leak. */
interface Secret {
  items: Array<{ kind: 'blobs' | 'manifests'; digest: string; bytes: Buffer }>;
}

async function pushSecret(pm: PrivateMirror): Promise<Secret> {
  const layer = randomBytes(5000);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', secret: randomBytes(8).toString('hex') }));
  const img = await pm.pusher.pushImage('private/secret', 'v1', { layers: [layer], config });
  return {
    items: [
      { kind: 'blobs', digest: img.layers[0]!.digest, bytes: layer },
      { kind: 'blobs', digest: img.config.digest, bytes: config },
      { kind: 'manifests', digest: img.descriptor.digest, bytes: img.manifest },
    ],
  };
}

/** GET and HEAD of every secret item under library/alpine: never 200, never its bytes, never linked. */
async function expectNotServed(pm: PrivateMirror, secret: Secret, check: (r: Reply, kind: 'blobs' | 'manifests') => void) {
  const repo = pm.cacheRepo('library/alpine');
  for (const { kind, digest, bytes } of secret.items) {
    for (const method of ['GET', 'HEAD']) {
      const r = await pm.anon.call(`/v2/library/alpine/${kind}/${digest}`, { method });
      expect(r.status, `${method} ${kind} ${digest}`).not.toBe(200);
      expect(r.body.includes(bytes)).toBe(false);
      check(r, kind);
    }
    expect(await pm.mirror.ports.blobs.hasRepoBlob(repo, digest)).toBe(false);
    expect(await pm.mirror.ports.manifests.hasRepoManifest(repo, digest)).toBe(false);
  }
}

/** An upstream failure as the client sees it: 429, or a 5xx with an upstream code. */
const upstreamFailure = (r: Reply) => {
  if (r.status === 429) return;
  expect(r.status).toBeGreaterThanOrEqual(500);
  if (r.body.length > 0) expect(r.codes()[0]).toMatch(/^UPSTREAM_/);
};

/** The upstream answered and does not have it: 404 with the right code (HEAD has no body). */
const unknown = (r: Reply, kind: 'blobs' | 'manifests') => {
  expect(r.status).toBe(404);
  if (r.body.length > 0) expect(r.codes()).toEqual([kind === 'blobs' ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN']);
};

describe('pushed content under a mirrored name, upstream failing', () => {
  let up: FakeUpstream;
  let pm: PrivateMirror;
  beforeAll(async () => {
    up = await startFakeUpstream();
    pm = await startPrivateMirror(up.url, { MIRROR_UPSTREAM_TIMEOUT: '1s' });
  });
  afterAll(async () => {
    await pm?.close();
    await up?.close();
  });
  afterEach(() => up.reset());

  test.each([
    ['down', () => { up.faults.down = true; }],
    ['timing out', () => { up.faults.delayMs = 2500; }],
    ['answering 503', () => { up.faults.status = 503; }],
    ['rate-limiting (429)', () => { up.faults.status = 429; }],
  ])('upstream %s: not served, not linked; after it recovers still not served (it lacks the content)', async (_name, fault) => {
    const secret = await pushSecret(pm);
    fault();
    await expectNotServed(pm, secret, upstreamFailure);
    up.reset();
    await expectNotServed(pm, secret, unknown);
    // The owner still gets it under its own name.
    const own = await pm.pusher.call(`/v2/private/secret/blobs/${secret.items[0]!.digest}`);
    expect(own.body.equals(secret.items[0]!.bytes)).toBe(true);
  });

  test('once the upstream really has the same bytes, they are fetched from it (verified) and then served', async () => {
    const secret = await pushSecret(pm);
    const [layer, , manifest] = secret.items;
    up.addBlob(layer!.bytes);
    up.addManifest('library/alpine', manifest!.bytes, 'application/vnd.oci.image.manifest.v1+json');
    const blob = await pm.anon.call(`/v2/library/alpine/blobs/${layer!.digest}`);
    expect(blob.status).toBe(200);
    expect(blob.header('x-cache')).toBe('MISS');
    expect(blob.body.equals(layer!.bytes)).toBe(true);
    expect(up.count({ kind: 'cdn', path: new RegExp(layer!.digest) })).toBe(1);
    const m = await pm.anon.call(`/v2/library/alpine/manifests/${manifest!.digest}`);
    expect(m.status).toBe(200);
    expect(m.header('x-cache')).toBe('MISS');
    expect(up.count({ method: 'GET', kind: 'manifest', path: new RegExp(manifest!.digest), status: 200 })).toBe(1);
    const repo = pm.cacheRepo('library/alpine');
    expect(await pm.mirror.ports.blobs.hasRepoBlob(repo, layer!.digest)).toBe(true);
    expect(await pm.mirror.ports.manifests.hasRepoManifest(repo, manifest!.digest)).toBe(true);
    expect((await pm.anon.call(`/v2/library/alpine/blobs/${layer!.digest}`)).header('x-cache')).toBe('HIT');
  });

  test('content fetched for another mirrored repository: served here only once the upstream confirms it here', async () => {
    const img = up.addImage('library/first', 'latest', { layers: [randomBytes(3000)] });
    const layer = img.layers[0]!;
    expect((await pm.anon.call(`/v2/library/first/blobs/${layer}`)).status).toBe(200);
    expect((await pm.anon.call(`/v2/library/first/manifests/${img.digest}`)).status).toBe(200);
    const other = pm.cacheRepo('library/second');

    up.faults.down = true;
    for (const kind of ['blobs', 'manifests']) {
      const r = await pm.anon.call(`/v2/library/second/${kind}/${kind === 'blobs' ? layer : img.digest}`);
      expect(r.status).toBe(502);
    }
    expect(await pm.mirror.ports.blobs.hasRepoBlob(other, layer)).toBe(false);
    expect(await pm.mirror.ports.manifests.hasRepoManifest(other, img.digest)).toBe(false);

    up.reset();
    // The fake serves any blob in any repository, but this manifest only in library/first.
    const blob = await pm.anon.call(`/v2/library/second/blobs/${layer}`);
    expect(blob.status).toBe(200);
    expect(up.count({ method: 'HEAD', kind: 'blob', repo: 'library/second', status: 200 })).toBe(1);
    expect(up.count({ kind: 'cdn' })).toBe(0); // confirmed by a HEAD, not fetched again
    expect(await pm.mirror.ports.blobs.hasRepoBlob(other, layer)).toBe(true);
    const missing = await pm.anon.call(`/v2/library/second/manifests/${img.digest}`);
    expect(missing.status).toBe(404);
    expect(missing.codes()).toEqual(['MANIFEST_UNKNOWN']);
    expect(await pm.mirror.ports.manifests.hasRepoManifest(other, img.digest)).toBe(false);
    up.setTag('library/second', 'x', img.digest);
    const confirmed = await pm.anon.call(`/v2/library/second/manifests/${img.digest}`);
    expect(confirmed.status).toBe(200);
    expect(confirmed.header('x-cache')).toBe('REVALIDATED');
  });
});

describe('pushed content under a mirrored name, token service refusing', () => {
  let up: FakeUpstream;
  let pm: PrivateMirror;
  beforeAll(async () => {
    up = await startFakeUpstream({ anonymous: false });
    pm = await startPrivateMirror(up.url);
  });
  afterAll(async () => {
    await pm?.close();
    await up?.close();
  });

  test('not served, not linked', async () => {
    const secret = await pushSecret(pm);
    await expectNotServed(pm, secret, (r) => expect(r.status === 404 || r.status >= 500).toBe(true));
    expect(up.count({ kind: 'token', status: 401 })).toBeGreaterThan(0);
  });
});

describe('pushed content under a mirrored name, upstream answering HEAD 200 for anything', () => {
  let liar: Server;
  let pm: PrivateMirror;
  /** The liar even knows the private sizes: a HEAD proves nothing about pushed bytes. */
  const sizes = new Map<string, number>();
  beforeAll(async () => {
    liar = createServer((req, res) => {
      const m = /\/(?:blobs|manifests)\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '');
      if (req.method === 'HEAD' && m) {
        res.writeHead(200, {
          'docker-content-digest': m[1]!, 'content-length': String(sizes.get(m[1]!) ?? 0),
          'content-type': 'application/vnd.oci.image.manifest.v1+json',
        });
        return void res.end();
      }
      const body = JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'unknown' }] });
      res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
    pm = await startPrivateMirror(`http://127.0.0.1:${(liar.address() as AddressInfo).port}`);
  });
  afterAll(async () => {
    await pm?.close();
    liar?.closeAllConnections();
    await new Promise((resolve) => liar?.close(resolve));
  });

  test('GET is a 404 (the bytes must come from the upstream, which has none); nothing linked', async () => {
    const secret = await pushSecret(pm);
    for (const item of secret.items) sizes.set(item.digest, item.bytes.length);
    const repo = pm.cacheRepo('library/alpine');
    for (const { kind, digest, bytes } of secret.items) {
      const r = await pm.anon.call(`/v2/library/alpine/${kind}/${digest}`);
      expect(r.status).toBe(404);
      expect(r.codes()).toEqual([kind === 'blobs' ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN']);
      expect(r.body.includes(bytes)).toBe(false);
      expect(await pm.mirror.ports.blobs.hasRepoBlob(repo, digest)).toBe(false);
      expect(await pm.mirror.ports.manifests.hasRepoManifest(repo, digest)).toBe(false);
    }
  });
});

describe('a local namespace pattern that matches the mirror\'s own index keys (docker.io/**)', () => {
  let up: FakeUpstream;
  let pm: PrivateMirror;
  beforeAll(async () => {
    up = await startFakeUpstream();
    pm = await startPrivateMirror(up.url, { MIRROR_LOCAL_NAMESPACES: 'private/**,docker.io/**' });
  });
  afterAll(async () => {
    await pm?.close();
    await up?.close();
  });

  test('pushes to docker.io/<mirrored name> are DENIED, so mirror clients never get pushed tags or bytes', async () => {
    const img = up.addImage('library/alpine', 'latest', { layers: [randomBytes(100)] });
    expect((await pm.anon.call('/v2/library/alpine/manifests/latest')).header('docker-content-digest')).toBe(img.digest);
    for (const name of ['docker.io/library/alpine', 'docker.io/library/never-pulled']) {
      const post = await pm.pusher.call(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
      expect(post.status).toBe(403);
      expect(post.codes()).toEqual(['DENIED']);
      const put = await pm.pusher.putManifest(name, 'latest', Buffer.from('{"schemaVersion":2,"layers":[]}'), 'application/vnd.oci.image.manifest.v1+json');
      expect(put.status).toBe(403);
    }
    const del = await pm.pusher.call(`/v2/docker.io/library/alpine/manifests/${img.digest}`, { method: 'DELETE' });
    expect(del.status).toBe(403);
    const again = await pm.anon.call('/v2/library/alpine/manifests/latest');
    expect(again.header('docker-content-digest')).toBe(img.digest);
    expect(again.body.equals(img.manifest)).toBe(true);
  });
});
