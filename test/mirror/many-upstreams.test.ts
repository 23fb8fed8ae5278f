/**
 * Issue 10: three upstreams in one mirror — Docker Hub (a fake, the default), "ghcr.io"
 * (a second fake) and a real Distribution named by its host:port — routed by ?ns=, by a
 * registry-host path prefix and by default; one content-addressed cache; an unknown
 * registry host is never dialled.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { sha256, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';
import { seedImage, type SeededImage } from '../helpers/seed.js';

let hub: FakeUpstream;
let ghcr: FakeUpstream;
let dist: Distribution;
let mirror: MirrorApp;
let labImage: SeededImage;
/** A listener standing for a registry host a client names and no upstream has: counts its connections. */
let stranger: Server;
let strangerAccepts = 0;
let strangerHost: string;

const shared = randomBytes(64 * 1024);
const sharedDigest = sha256(shared);

beforeAll(async () => {
  [hub, ghcr, dist] = await Promise.all([startFakeUpstream(), startFakeUpstream(), startDistribution()]);
  stranger = createServer((socket) => {
    strangerAccepts++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => stranger.listen(0, '127.0.0.1', resolve));
  strangerHost = `127.0.0.1:${(stranger.address() as AddressInfo).port}`;
  labImage = await seedImage(dist, 'team/tool', '1', { layers: [{ size: 32 * 1024, seed: 'lab' }], mediaType: 'oci' });
  mirror = await startMirrorApp(hub.url, {
    MIRROR_UPSTREAMS: JSON.stringify([
      { name: 'ghcr.io', url: ghcr.url },
      { name: dist.host, url: dist.url },
    ]),
  });
}, 60_000);
afterAll(async () => {
  await mirror?.close();
  await Promise.all([hub?.close(), ghcr?.close(), dist?.stop()]);
  await new Promise((resolve) => stranger?.close(resolve));
});

async function get(path: string) {
  const res = await request(`${mirror.url}${path}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}
const errorCode = (body: Buffer) => (JSON.parse(body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code;
const manifestGets = (up: FakeUpstream, repo: string) => up.count({ method: 'GET', kind: 'manifest', repo, status: 200 });

describe('routing, three ways', () => {
  test('no registry host: the default upstream (docker.io), library/ for one-part names', async () => {
    const img = hub.addImage('library/app', '1', { layers: [randomBytes(1024)] });
    const res = await get('/v2/app/manifests/1');
    expect(res.status).toBe(200);
    expect(res.headers['docker-content-digest']).toBe(img.digest);
    expect(manifestGets(hub, 'library/app')).toBe(1);
    expect(ghcr.count({ kind: 'manifest' })).toBe(0);
  });

  test('?ns=ghcr.io: the ghcr.io upstream, the name taken whole, cached under ghcr.io/', async () => {
    const img = ghcr.addImage('owner/app', '1', { layers: [randomBytes(1024)] });
    hub.addImage('owner/app', '1', { layers: [randomBytes(1024)] });
    const res = await get('/v2/owner/app/manifests/1?ns=ghcr.io');
    expect(res.status).toBe(200);
    expect(res.headers['docker-content-digest']).toBe(img.digest);
    expect(res.body.equals(img.manifest)).toBe(true);
    expect(manifestGets(ghcr, 'owner/app')).toBe(1);
    expect(manifestGets(hub, 'owner/app')).toBe(0);
    expect(await mirror.ports.repositories.hasRepository('ghcr.io/owner/app')).toBe(true);
  });

  test('a path prefix naming a registry host: /v2/ghcr.io/owner/app is the same repository as ?ns=ghcr.io (served from cache)', async () => {
    const before = manifestGets(ghcr, 'owner/app');
    const res = await get('/v2/ghcr.io/owner/app/manifests/1');
    expect(res.status).toBe(200);
    expect(res.headers['x-cache']).toBe('HIT');
    expect(manifestGets(ghcr, 'owner/app')).toBe(before);
  });

  test('the real Distribution, by host:port prefix and by ?ns=: digests and bytes equal the upstream\'s', async () => {
    const byPrefix = await get(`/v2/${dist.host}/team/tool/manifests/1`);
    expect(byPrefix.status).toBe(200);
    expect(byPrefix.headers['docker-content-digest']).toBe(labImage.digest);
    const layer = await get(`/v2/${dist.host}/team/tool/blobs/${labImage.layerDigests[0]}`);
    expect(layer.status).toBe(200);
    expect(sha256(layer.body)).toBe(labImage.layerDigests[0]);
    const byNs = await get(`/v2/team/tool/manifests/${labImage.digest}?ns=${dist.host}`);
    expect(byNs.status).toBe(200);
    expect(byNs.body.equals(labImage.manifest)).toBe(true);
    expect(await mirror.ports.blobs.hasRepoBlob(`${dist.host}/team/tool`, labImage.layerDigests[0]!)).toBe(true);
  });
});

describe('one cache', () => {
  test('a blob pulled via two upstreams is stored once, linked to each repository', async () => {
    hub.addImage('library/base', '1', { layers: [shared] });
    ghcr.addImage('owner/base', '1', { layers: [shared] });
    const viaHub = await get(`/v2/base/blobs/${sharedDigest}`);
    const viaGhcr = await get(`/v2/ghcr.io/owner/base/blobs/${sharedDigest}`);
    expect([viaHub.status, viaGhcr.status]).toEqual([200, 200]);
    expect(viaHub.body.equals(shared) && viaGhcr.body.equals(shared)).toBe(true);
    const hex = sharedDigest.slice('sha256:'.length);
    expect(mirror.blobFiles().filter((f) => f.endsWith(hex))).toHaveLength(1);
    expect(await mirror.ports.blobs.hasRepoBlob('docker.io/library/base', sharedDigest)).toBe(true);
    expect(await mirror.ports.blobs.hasRepoBlob('ghcr.io/owner/base', sharedDigest)).toBe(true);
    // Fail-closed per upstream: ghcr.io itself answered for its repository.
    expect(ghcr.count({ kind: 'blob', path: new RegExp(hex) }) + ghcr.count({ kind: 'cdn', path: new RegExp(hex) })).toBeGreaterThan(0);
  });

  test('a blob of one upstream is not served for another upstream\'s repository it does not have', async () => {
    const only = randomBytes(2048);
    hub.addImage('library/solo', '1', { layers: [only] });
    expect((await get(`/v2/solo/blobs/${sha256(only)}`)).status).toBe(200);
    const res = await get(`/v2/ghcr.io/owner/solo/blobs/${sha256(only)}`);
    expect(res.status).toBe(404);
    expect(errorCode(res.body)).toBe('BLOB_UNKNOWN');
  });
});

describe('a registry host no upstream has', () => {
  test.each([
    ['?ns=', () => `/v2/owner/app/manifests/1?ns=${strangerHost}`],
    ['path prefix', () => `/v2/${strangerHost}/owner/app/manifests/1`],
    ['path prefix, blob', () => `/v2/${strangerHost}/owner/app/blobs/${sharedDigest}`],
    ['?ns=quay.io', () => '/v2/owner/app/manifests/1?ns=quay.io'],
  ])('%s: NAME_UNKNOWN, and nothing is dialled', async (_, path) => {
    const res = await get(path());
    expect(res.status).toBe(404);
    expect(errorCode(res.body)).toBe('NAME_UNKNOWN');
    expect(strangerAccepts).toBe(0);
  });
});

describe('stats, metrics and events carry the upstream\'s name', () => {
  test('/admin/stats has a section per upstream; /metrics labels upstream request and byte counters', async () => {
    const filled: Array<{ upstream?: string; repository?: string }> = [];
    const off = mirror.events.on('blob.filled', (e) => { filled.push(e); });
    const bytes = randomBytes(4096);
    ghcr.addImage('owner/evt', '1', { layers: [bytes] });
    expect((await get(`/v2/owner/evt/blobs/${sha256(bytes)}?ns=ghcr.io`)).status).toBe(200);
    off?.();
    expect(filled).toContainEqual(expect.objectContaining({ upstream: 'ghcr.io', repository: 'ghcr.io/owner/evt' }));

    const stats = JSON.parse((await get('/admin/stats')).body.toString()) as {
      upstreams: Record<string, { requests: Record<string, number>; bytes: number; prefetch: object; index: { repositories: number; blobs: number; blobBytes: number } }>;
      upstreamRequests: Record<string, number>;
    };
    expect(Object.keys(stats.upstreams)).toEqual(['docker.io', 'ghcr.io', dist.host]);
    expect(stats.upstreams['ghcr.io']!.requests.manifest_get).toBeGreaterThan(0);
    expect(stats.upstreams['ghcr.io']!.bytes).toBeGreaterThanOrEqual(shared.length + bytes.length);
    expect(stats.upstreams[dist.host]!.requests.blob_get).toBeGreaterThan(0);
    // Which repositories of which upstream reference the blobs: the shared blob counts for both.
    // (Eager prefetch also filled owner/app's config and layer: at least, not exactly.)
    expect(stats.upstreams['ghcr.io']!.index.repositories).toBe(3);
    expect(stats.upstreams['ghcr.io']!.index.blobs).toBeGreaterThanOrEqual(2);
    expect(stats.upstreams['ghcr.io']!.index.blobBytes).toBeGreaterThanOrEqual(shared.length + bytes.length);
    expect(stats.upstreams['docker.io']!.index.blobBytes).toBeGreaterThanOrEqual(shared.length);
    const sum = Object.values(stats.upstreams).reduce((n, u) => n + u.requests.blob_get!, 0);
    expect(sum).toBe(stats.upstreamRequests.blob_get);

    const metrics = (await get('/metrics')).body.toString();
    expect(metrics).toMatch(/mirror_upstream_requests_total\{upstream="ghcr\.io",kind="blob_get"\} [1-9]/);
    expect(metrics).toContain(`mirror_upstream_bytes_total{upstream="${dist.host}"}`);
  });
});
