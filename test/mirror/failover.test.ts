/**
 * Many endpoints of one upstream (issue 10, item 4): endpoints tried in order, a circuit
 * breaker per endpoint (counted in connection attempts on a dead endpoint's listener), a
 * fast 503 or stale answer when every endpoint is open, and wrong bytes from one endpoint
 * never cached while the next one serves.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, test } from 'vitest';
import { MEDIA_TYPES, sha256, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { mirrorAppConfig, startMirrorAppWith, type MirrorApp } from '../helpers/mirror-app.js';

const OPEN_MS = 30_000;
const TTL_MS = 60_000;

/** A listener that accepts and at once closes every connection: an endpoint that is down. */
interface DeadEndpoint { url: string; accepts: number; close(): Promise<void> }

async function startDeadEndpoint(): Promise<DeadEndpoint> {
  const sockets = new Set<Socket>();
  const state = { accepts: 0 };
  const server: Server = createServer((s) => { state.accepts++; sockets.add(s); s.destroy(); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get accepts() { return state.accepts; },
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function mirrorOver(urls: string[], failures = 2): Promise<MirrorApp> {
  const base = mirrorAppConfig(urls[0]!, {
    MIRROR_UPSTREAM_TAG_TTL: '60s', MIRROR_UPSTREAM_TIMEOUT: '2s',
    // No eager prefetch: its requests would race the counted ones.
    MIRROR_UPSTREAM_PREFETCH: '0',
  });
  const mirror = await startMirrorAppWith({
    ...base,
    upstream: { ...base.upstream, url: urls[0]!, urls, breaker: { failures, openMs: OPEN_MS } },
  });
  cleanups.push(() => mirror.close());
  return mirror;
}

async function fakeUpstream(): Promise<FakeUpstream> {
  const up = await startFakeUpstream();
  cleanups.push(() => up.close());
  return up;
}

async function dead(): Promise<DeadEndpoint> {
  const d = await startDeadEndpoint();
  cleanups.push(() => d.close());
  return d;
}

/** The same image (same bytes, same digests) in `library/<repo>:latest` of every upstream given. */
function sameImage(ups: FakeUpstream[], repo: string) {
  const layer = randomBytes(4000);
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  const types = MEDIA_TYPES.oci;
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: types.manifest,
    config: { mediaType: types.config, digest: sha256(configBytes), size: configBytes.length },
    layers: [{ mediaType: types.layer, digest: sha256(layer), size: layer.length }],
  }));
  for (const up of ups) {
    up.addBlob(layer);
    up.addBlob(configBytes);
    up.addManifest(`library/${repo}`, manifest, types.manifest, 'latest');
  }
  return { layer, layerDigest: sha256(layer), manifest, digest: sha256(manifest) };
}

async function get(mirror: MirrorApp, path: string) {
  const started = Date.now();
  const res = await request(`${mirror.url}${path}`);
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body, ms: Date.now() - started, text: body.toString('utf8') };
}

describe('endpoint failover', () => {
  test('first endpoint down: the second serves manifest and blob with the right bytes', async () => {
    const d = await dead();
    const up = await fakeUpstream();
    const img = sameImage([up], 'app');
    const mirror = await mirrorOver([d.url, up.url]);

    const m = await get(mirror, '/v2/library/app/manifests/latest');
    expect(m.status).toBe(200);
    expect(m.body.equals(img.manifest)).toBe(true);
    expect(m.headers['docker-content-digest']).toBe(img.digest);
    const b = await get(mirror, `/v2/library/app/blobs/${img.layerDigest}`);
    expect(b.status).toBe(200);
    expect(b.body.equals(img.layer)).toBe(true);
    expect(d.accepts).toBeGreaterThan(0);
    expect(up.count({ kind: 'manifest', method: 'GET', status: 200 })).toBe(1);
  });

  test('the breaker: after N failures the dead endpoint gets no connection attempt until openMs, then exactly one probe', async () => {
    const d = await dead();
    const up = await fakeUpstream();
    const repos = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
    for (const r of repos) sameImage([up], r);
    const mirror = await mirrorOver([d.url, up.url], 2);
    const pull = async (r: string) => expect((await get(mirror, `/v2/library/${r}/manifests/latest`)).status).toBe(200);

    await pull('a1');
    await pull('a2');
    expect(d.accepts).toBe(2);
    await pull('a3');
    await pull('a4');
    expect(d.accepts).toBe(2); // open: skipped without dialling

    mirror.advance(OPEN_MS);
    await pull('a5');
    expect(d.accepts).toBe(3); // the one half-open probe, which fails: open again
    await pull('a6');
    expect(d.accepts).toBe(3);
    const stats = JSON.parse((await get(mirror, '/admin/stats')).text) as { upstreams: Record<string, { health: { endpoints: Array<{ endpoint: number; state: string }> } }> };
    expect(stats.upstreams['docker.io']!.health.endpoints).toEqual([
      { endpoint: 0, state: 'open', openUntil: expect.any(String) },
      { endpoint: 1, state: 'closed' },
    ]);
    expect((await get(mirror, '/metrics')).text).toContain('mirror_upstream_endpoint_open{upstream="docker.io",endpoint="0"} 1');
  });

  test('a probe that succeeds closes the breaker: the first endpoint serves again', async () => {
    const first = await fakeUpstream();
    const second = await fakeUpstream();
    const repos = ['b1', 'b2', 'b3', 'b4', 'b5'];
    for (const r of repos) sameImage([first, second], r);
    const mirror = await mirrorOver([first.url, second.url], 1);
    first.faults.down = true;
    expect((await get(mirror, '/v2/library/b1/manifests/latest')).status).toBe(200);
    const tried = first.requests.length;
    expect((await get(mirror, '/v2/library/b2/manifests/latest')).status).toBe(200);
    expect(first.requests.length).toBe(tried); // open

    first.reset();
    mirror.advance(OPEN_MS);
    const servedBySecond = second.count({ kind: 'manifest', method: 'GET', status: 200 });
    expect((await get(mirror, '/v2/library/b3/manifests/latest')).status).toBe(200);
    expect((await get(mirror, '/v2/library/b4/manifests/latest')).status).toBe(200);
    expect(first.count({ kind: 'manifest', method: 'GET', status: 200 })).toBe(2);
    expect(second.count({ kind: 'manifest', method: 'GET', status: 200 })).toBe(servedBySecond);
  });

  test('every endpoint open: an uncached manifest is a fast 503 with no connection attempt; a cached tag is served STALE', async () => {
    const d = await dead();
    const up = await fakeUpstream();
    const img = sameImage([up], 'c1');
    sameImage([up], 'c2');
    const mirror = await mirrorOver([d.url, up.url], 1);
    expect((await get(mirror, '/v2/library/c1/manifests/latest')).status).toBe(200);
    up.faults.down = true;
    mirror.advance(TTL_MS); // c1 is past its TTL; d's breaker (opened on the first pull) is half-open
    const failing = await get(mirror, '/v2/library/c2/manifests/latest');
    expect(failing.status).toBeGreaterThanOrEqual(502); // both endpoints fail: both breakers open
    const acceptsBefore = d.accepts;
    const upBefore = up.requests.length;

    const uncached = await get(mirror, '/v2/library/c2/manifests/latest');
    expect(uncached.status).toBe(503);
    expect(uncached.headers['retry-after']).toBe(String(OPEN_MS / 1000));
    expect(JSON.parse(uncached.text).errors[0].code).toBe('UPSTREAM_UNAVAILABLE');
    expect(uncached.text).not.toContain('127.0.0.1');
    const stale = await get(mirror, '/v2/library/c1/manifests/latest');
    expect(stale.status).toBe(200);
    expect(stale.headers['x-cache']).toBe('STALE');
    expect(stale.headers['warning']).toMatch(/^299 /);
    expect(stale.body.equals(img.manifest)).toBe(true);
    expect(d.accepts).toBe(acceptsBefore);
    expect(up.requests.length).toBe(upBefore);
  });

  test('first endpoint sending wrong blob bytes: nothing cached, the retry is served by the second endpoint', async () => {
    const bad = await fakeUpstream();
    const good = await fakeUpstream();
    const img = sameImage([bad, good], 'w1');
    const mirror = await mirrorOver([bad.url, good.url], 5);
    bad.faults.corrupt.add(img.layerDigest);

    const first = await request(`${mirror.url}/v2/library/w1/blobs/${img.layerDigest}`);
    let got: Buffer | undefined;
    try {
      got = Buffer.from(await first.body.arrayBuffer());
    } catch {
      got = undefined; // cut: the client never gets the wrong blob whole
    }
    expect(got === undefined || !got.equals(img.layer)).toBe(true);
    expect(mirror.blobFiles().some((f) => f.includes(img.layerDigest.slice(7)))).toBe(false);

    const retry = await get(mirror, `/v2/library/w1/blobs/${img.layerDigest}`);
    expect(retry.status).toBe(200);
    expect(retry.body.equals(img.layer)).toBe(true);
    expect(bad.count({ kind: 'blob', method: 'GET' }) - bad.count({ kind: 'blob', method: 'GET', status: 401 })).toBe(1);
    expect(good.count({ kind: 'cdn', method: 'GET' })).toBe(1);
    expect(mirror.blobFiles().some((f) => f.includes(img.layerDigest.slice(7)))).toBe(true);
  });

  test('first endpoint sending a manifest that does not match its digest: nothing cached, the retry is served by the second', async () => {
    const bad = await fakeUpstream();
    const good = await fakeUpstream();
    const img = sameImage([bad, good], 'w2');
    const mirror = await mirrorOver([bad.url, good.url], 5);
    bad.faults.corrupt.add(img.digest);

    const first = await get(mirror, '/v2/library/w2/manifests/latest');
    expect(first.status).toBe(502);
    expect(JSON.parse(first.text).errors[0].code).toBe('UPSTREAM_UNAVAILABLE');
    const retry = await get(mirror, '/v2/library/w2/manifests/latest');
    expect(retry.status).toBe(200);
    expect(retry.body.equals(img.manifest)).toBe(true);
    expect(retry.headers['x-cache']).toBe('MISS');
    expect(bad.count({ kind: 'manifest', method: 'GET', status: 200 })).toBe(1);
    expect(good.count({ kind: 'manifest', method: 'GET', status: 200 })).toBe(1);
  });

  test('first endpoint timing out: the second serves; the slow one counts as a failure', async () => {
    const slow = await fakeUpstream();
    const good = await fakeUpstream();
    const img = sameImage([slow, good], 't1');
    sameImage([slow, good], 't2');
    const base = mirrorAppConfig(slow.url, { MIRROR_UPSTREAM_TIMEOUT: '300ms', MIRROR_UPSTREAM_PREFETCH: '0' });
    const mirror = await startMirrorAppWith({
      ...base, upstream: { ...base.upstream, urls: [slow.url, good.url], breaker: { failures: 1, openMs: OPEN_MS } },
    });
    cleanups.push(() => mirror.close());
    slow.faults.delayMs = 1000;

    const m = await get(mirror, '/v2/library/t1/manifests/latest');
    expect(m.status).toBe(200);
    expect(m.body.equals(img.manifest)).toBe(true);
    const tried = slow.requests.length;
    expect((await get(mirror, '/v2/library/t2/manifests/latest')).status).toBe(200);
    expect(slow.requests.length).toBe(tried); // open after one timeout: not asked again
  });
});
