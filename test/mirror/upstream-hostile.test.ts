/**
 * The mirror in front of an upstream that misbehaves on purpose (issue 7, threat (b)):
 * it redirects blobs into the internal network, trickles bytes, ignores `n` on tag lists,
 * or is down. What a client sees: a clear OCI error, no internal bytes or addresses, and
 * nothing cached.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { sha256, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';

let up: FakeUpstream;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  up = await startFakeUpstream();
});
afterAll(async () => {
  await up?.close();
});
afterEach(async () => {
  up.reset();
  while (cleanups.length) await cleanups.pop()!();
});

async function mirrorOf(url: string, env: Record<string, string> = {}): Promise<MirrorApp> {
  const m = await startMirrorApp(url, env);
  cleanups.push(() => m.close());
  return m;
}

/** A server on `host` holding an internal secret; counts the requests that reach it. */
async function internalService(host: string): Promise<{ port: number; hits: () => number }> {
  let hits = 0;
  const s = createServer((_req, res) => {
    hits++;
    res.writeHead(200, { 'content-length': 14 }).end('INTERNAL-ADMIN');
  });
  await new Promise<void>((r) => s.listen(0, host, r));
  cleanups.push(() => new Promise((r) => { s.closeAllConnections(); s.close(() => r()); }));
  return { port: (s.address() as AddressInfo).port, hits: () => hits };
}

async function get(url: string) {
  const res = await request(url);
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body, text: body.toString() };
}

describe('blob redirects into the internal network (SSRF)', () => {
  test.each([
    ['another loopback address', '127.0.0.2', (port: number) => `http://127.0.0.2:${port}/admin`],
    ['a name that resolves to loopback', '127.0.0.1', (port: number) => `http://localhost:${port}/admin`],
  ])('a redirect to %s is refused: 502, none of its bytes, and it receives no request', async (_what, host, location) => {
    const mirror = await mirrorOf(up.url);
    const internal = await internalService(host);
    const digest = up.addBlob(randomBytes(1000));
    up.faults.blobLocation = location(internal.port);

    const res = await get(`${mirror.url}/v2/library/app/blobs/${digest}`);
    expect(res.status).toBe(502);
    expect(JSON.parse(res.text).errors[0].code).toBe('UPSTREAM_UNAVAILABLE');
    expect(res.text).not.toContain('INTERNAL');
    expect(res.text).not.toContain(String(internal.port));
    expect(internal.hits()).toBe(0);
    expect(mirror.blobFiles()).toEqual([]);
  });

  test('a host the operator lists in upstream.redirect_allow is followed', async () => {
    const mirror = await mirrorOf(up.url, { MIRROR_UPSTREAM_REDIRECT_ALLOW: 'localhost' });
    const bytes = randomBytes(4096);
    const digest = up.addBlob(bytes);
    // The fake's CDN, reached by another name: allowed only because it is listed.
    up.faults.blobLocation = `${up.cdnUrl.replace('127.0.0.1', 'localhost')}/blobs/${digest}?sig=x`;
    const res = await get(`${mirror.url}/v2/library/app/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(sha256(res.body)).toBe(digest);
  });
});

describe('upstream errors name no internal address', () => {
  test('upstream down: 502 with the upstream name and a generic reason, no IP:port', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const mirror = await mirrorOf(`http://127.0.0.1:${port}`);

    for (const path of ['/v2/library/app/manifests/latest', `/v2/library/app/blobs/${sha256('x')}`, '/v2/library/app/tags/list']) {
      const res = await get(`${mirror.url}${path}`);
      expect(res.status).toBe(502);
      expect(JSON.parse(res.text).errors[0].detail).toEqual({ upstream: 'docker.io', reason: 'connection refused' });
      expect(res.text).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
      expect(res.text).not.toContain(String(port));
    }
  });
});

describe('fill bounds', () => {
  /** Reads a mirror blob response to its end; resolves with the bytes or the error that cut it. */
  async function readBlob(url: string): Promise<{ status: number; bytes?: Buffer; error?: unknown }> {
    const res = await request(url);
    try {
      return { status: res.statusCode, bytes: Buffer.from(await res.body.arrayBuffer()) };
    } catch (error) {
      return { status: res.statusCode, error };
    }
  }

  test('a trickling upstream is cut at min_throughput: client cut, nothing cached, the upstream slot freed', async () => {
    const mirror = await mirrorOf(up.url, {
      MIRROR_UPSTREAM_CONCURRENCY: '1',
      MIRROR_UPSTREAM_MIN_THROUGHPUT: '16KiB',
      MIRROR_UPSTREAM_THROUGHPUT_WINDOW: '300ms',
    });
    // 64 KiB at ~5 KiB/s would take 13 s; every pause is far below the 3 s body timeout.
    const slow = up.addBlob(randomBytes(64 * 1024));
    up.faults.throttle = { bytesPerChunk: 512, intervalMs: 100 };
    const cut = await readBlob(`${mirror.url}/v2/library/app/blobs/${slow}`);
    expect(cut.status).toBe(200);
    expect(cut.error).toBeDefined();
    expect(mirror.blobFiles()).toEqual([]);
    expect(mirror.metrics.fillsFailed).toBe(1);

    // With one upstream slot, the next fill only runs if the cut one gave its slot back.
    delete up.faults.throttle;
    const next = randomBytes(1000);
    const ok = await readBlob(`${mirror.url}/v2/library/app/blobs/${up.addBlob(next)}`);
    expect(ok.bytes?.equals(next)).toBe(true);
    expect(mirror.tmpFiles()).toEqual([]);
  }, 8_000);

  test('a fill past fill_deadline is cut even when it keeps a good pace', async () => {
    const mirror = await mirrorOf(up.url, { MIRROR_UPSTREAM_FILL_DEADLINE: '500ms', MIRROR_UPSTREAM_MIN_THROUGHPUT: '0' });
    const slow = up.addBlob(randomBytes(256 * 1024));
    up.faults.throttle = { bytesPerChunk: 16 * 1024, intervalMs: 200 }; // ~3 s in all
    const cut = await readBlob(`${mirror.url}/v2/library/app/blobs/${slow}`);
    expect(cut.error).toBeDefined();
    expect(mirror.blobFiles()).toEqual([]);
  }, 8_000);
});

describe('small bodies trickled a byte per pause', () => {
  test('a tag list or manifest that does not end within upstream.timeout is cut: 5xx, not a hang', async () => {
    // Answers every request with 200 and then one byte per 100 ms, for ever: each pause is
    // far below the body timeout, so only a whole-body deadline ends it.
    const timers = new Set<NodeJS.Timeout>();
    const trickler = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"tags":["a"');
      const t = setInterval(() => res.write(' '), 100);
      timers.add(t);
      res.once('close', () => clearInterval(t));
    });
    await new Promise<void>((r) => trickler.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => { for (const t of timers) clearInterval(t); trickler.closeAllConnections(); trickler.close(() => r()); }));
    const mirror = await mirrorOf(`http://127.0.0.1:${(trickler.address() as AddressInfo).port}`, { MIRROR_UPSTREAM_TIMEOUT: '600ms' });

    const tags = await get(`${mirror.url}/v2/library/app/tags/list`);
    expect(tags.status).toBe(504);
    expect(JSON.parse(tags.text).errors[0].detail).toEqual({ upstream: 'docker.io', reason: 'transfer too slow' });
    const manifest = await get(`${mirror.url}/v2/library/app/manifests/latest`);
    expect(manifest.status).toBeGreaterThanOrEqual(500);
  }, 8_000);
});

describe('tag lists from an upstream that ignores n', () => {
  test('at most n tags, with a Link to the rest', async () => {
    const mirror = await mirrorOf(up.url);
    const img = up.addImage('library/many', 't000', { layers: [] });
    for (let i = 1; i < 50; i++) up.setTag('library/many', `t${String(i).padStart(3, '0')}`, img.digest);
    up.faults.ignoreTagsN = true;

    const res = await get(`${mirror.url}/v2/library/many/tags/list?n=3`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text).tags).toEqual(['t000', 't001', 't002']);
    expect(res.headers['link']).toBe('</v2/library/many/tags/list?n=3&last=t002>; rel="next"');
  });

  test('a tag list past the byte cap is read only up to it: whole tags, then a Link', async () => {
    const mirror = await mirrorOf(up.url);
    const img = up.addImage('library/huge', undefined, { layers: [] });
    // ~5.3 MB of JSON: more than the 4 MiB the mirror reads.
    const total = 150_000;
    for (let i = 0; i < total; i++) up.setTag('library/huge', `tag-${String(i).padStart(7, '0')}-${'x'.repeat(16)}`, img.digest);
    up.faults.ignoreTagsN = true;

    const res = await get(`${mirror.url}/v2/library/huge/tags/list`);
    expect(res.status).toBe(200);
    const tags = JSON.parse(res.text).tags as string[];
    expect(tags.length).toBeGreaterThan(100_000);
    expect(tags.length).toBeLessThan(total);
    expect(tags.every((t) => /^tag-\d{7}-x{16}$/.test(t))).toBe(true);
    const last = tags[tags.length - 1]!;
    expect(res.headers['link']).toBe(`</v2/library/huge/tags/list?last=${last}>; rel="next"`);
  }, 20_000);
});
