import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeUpstream, sha256, type FakeUpstream, type FakeUpstreamOptions } from '../../test/helpers/fake-upstream.js';
import type { UpstreamConfig } from '../config/schema.js';
import { OciError } from '../oci/errors.js';
import { createUpstreamClient, type UpstreamClient } from './client.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(
  fake: FakeUpstreamOptions = {},
  cfg: Partial<UpstreamConfig> = {},
): Promise<{ up: FakeUpstream; client: UpstreamClient }> {
  const up = await startFakeUpstream(fake);
  cleanups.push(() => up.close());
  const client = createUpstreamClient({
    name: 'fake',
    url: up.url,
    connectTimeoutMs: 2_000,
    timeoutMs: 5_000,
    concurrency: 4,
    tagTtlMs: 60_000,
    officialPrefix: 'library/',
    ...LIMITS,
    ...cfg,
  });
  cleanups.push(() => client.close());
  return { up, client };
}

/** The upstream.* keys added for issue 7, at their defaults (no allow list). */
const LIMITS = { redirectAllow: [], fillDeadlineMs: 3_600_000, minThroughput: 16 * 1024, throughputWindowMs: 30_000, prefetch: 0, prefetchPlatforms: [], prefetchMinBudget: 0 } as const;

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

async function thrown(p: Promise<unknown>): Promise<OciError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OciError);
  return err as OciError;
}

describe('upstream client: token auth', () => {
  it('fetches a token on the first 401, then reuses it', async () => {
    const { up, client } = await setup();
    const img = up.addImage('library/alpine', '3.20', { layers: [Buffer.from('a')] });

    for (let i = 0; i < 3; i++) {
      const res = await client.manifest('GET', 'library/alpine', '3.20');
      expect(res.status).toBe(200);
      expect(res.headers['docker-content-digest']).toBe(img.digest);
      expect(sha256(await readAll(res.body))).toBe(img.digest);
    }
    expect(up.count({ kind: 'token' })).toBe(1);
    expect(up.count({ kind: 'manifest', status: 401 })).toBe(1);
    expect(up.count({ kind: 'manifest', status: 200 })).toBe(3);
    const sent = up.requests.find((r) => r.kind === 'manifest' && r.status === 200)!;
    expect(sent.userAgent).toBe('registry-mirror/0.1');
    for (const type of [
      'application/vnd.docker.distribution.manifest.v2+json',
      'application/vnd.docker.distribution.manifest.list.v2+json',
      'application/vnd.oci.image.manifest.v1+json',
      'application/vnd.oci.image.index.v1+json',
    ]) {
      expect(sent.accept).toContain(type);
    }
  });

  it('shares one token request among concurrent first requests, and asks again for another repository', async () => {
    const { up, client } = await setup();
    up.addImage('library/alpine', 'latest', { layers: [Buffer.from('a')] });
    up.addImage('a/b/c', 'latest', { layers: [Buffer.from('b')] });

    const all = await Promise.all(Array.from({ length: 4 }, () => client.manifest('GET', 'library/alpine', 'latest')));
    for (const res of all) {
      expect(res.status).toBe(200);
      await readAll(res.body);
    }
    expect(up.count({ kind: 'token' })).toBe(1);

    const other = await client.manifest('HEAD', 'a/b/c', 'latest');
    expect(other.status).toBe(200);
    expect(up.count({ kind: 'token' })).toBe(2);
  });

  it('fetches a new token when the cached one is refused', async () => {
    const { up, client } = await setup();
    up.addImage('library/alpine', 'latest', { layers: [Buffer.from('a')] });
    await readAll((await client.manifest('GET', 'library/alpine', 'latest')).body);

    up.revokeTokens();
    const res = await client.manifest('GET', 'library/alpine', 'latest');
    expect(res.status).toBe(200);
    await readAll(res.body);
    expect(up.count({ kind: 'token' })).toBe(2);
  });

  it('sends configured credentials as Basic to the token service only', async () => {
    const { up, client } = await setup(
      { users: { alice: 'pw' }, anonymous: false },
      { username: 'alice', password: 'pw' },
    );
    const img = up.addImage('team/app', 'v1', { layers: [Buffer.from('layer bytes')] });

    expect((await client.manifest('HEAD', 'team/app', 'v1')).status).toBe(200);
    const blob = await client.blob('GET', 'team/app', img.layers[0]!);
    expect((await readAll(blob.body)).toString()).toBe('layer bytes');

    const basic = `Basic ${Buffer.from('alice:pw').toString('base64')}`;
    const tokenReqs = up.requests.filter((r) => r.kind === 'token');
    expect(tokenReqs.length).toBeGreaterThan(0);
    expect(tokenReqs.every((r) => r.auth === basic)).toBe(true);
    const others = up.requests.filter((r) => r.kind !== 'token');
    expect(others.some((r) => r.auth?.startsWith('Basic'))).toBe(false);
    expect(others.filter((r) => r.status === 200 && r.kind !== 'cdn').every((r) => r.auth?.startsWith('Bearer '))).toBe(true);
  });

  it('answers a Basic challenge with configured credentials, and sends them up front afterwards', async () => {
    const { up, client } = await setup({ auth: 'basic', users: { bob: 'pw' } }, { username: 'bob', password: 'pw' });
    up.addImage('team/app', 'v1', { layers: [Buffer.from('x')] });
    expect((await client.manifest('HEAD', 'team/app', 'v1')).status).toBe(200);
    expect((await client.manifest('HEAD', 'team/app', 'v1')).status).toBe(200);
    expect(up.count({ kind: 'manifest', status: 401 })).toBe(1);
    expect(up.count({ kind: 'manifest', status: 200 })).toBe(2);
  });

  it('returns the 401 when it has no credentials for a Basic challenge', async () => {
    const { up, client } = await setup({ auth: 'basic', users: { bob: 'pw' } });
    up.addImage('team/app', 'v1', { layers: [] });
    const res = await client.manifest('GET', 'team/app', 'v1');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('Basic');
    await readAll(res.body);
  });
});

describe('upstream client: blobs', () => {
  it('follows the 307 to the CDN without Authorization', async () => {
    const { up, client } = await setup();
    const data = Buffer.from('hello layer '.repeat(1000));
    const digest = up.addBlob(data);

    const res = await client.blob('GET', 'library/alpine', digest);
    expect(res.status).toBe(200);
    expect(Number(res.headers['content-length'])).toBe(data.length);
    expect((await readAll(res.body)).equals(data)).toBe(true);

    expect(up.count({ kind: 'blob', status: 307 })).toBe(1);
    expect(up.count({ kind: 'cdn', status: 200 })).toBe(1);
    expect(up.requests.filter((r) => r.kind === 'cdn' && r.auth !== undefined)).toEqual([]);
  });

  it('passes Range through to the CDN', async () => {
    const { up, client } = await setup();
    const digest = up.addBlob(Buffer.from('0123456789'));
    const res = await client.blob('GET', 'library/alpine', digest, { range: 'bytes=4-' });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe('bytes 4-9/10');
    expect((await readAll(res.body)).toString()).toBe('456789');
    expect(up.requests.find((r) => r.kind === 'cdn')?.range).toBe('bytes=4-');
  });

  it('answers HEAD from the registry with an empty body', async () => {
    const { up, client } = await setup();
    const digest = up.addBlob(Buffer.alloc(1234));
    const res = await client.blob('HEAD', 'library/alpine', digest);
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe('1234');
    expect(res.headers['docker-content-digest']).toBe(digest);
    expect((await readAll(res.body)).length).toBe(0);
    expect(up.count({ kind: 'cdn' })).toBe(0);
  });

  it('surfaces a stalled transfer as an error on the body', async () => {
    const { up, client } = await setup({}, { timeoutMs: 300 });
    const digest = up.addBlob(Buffer.alloc(200_000, 1));
    up.faults.stallAfter.set(digest, 1000);
    const res = await client.blob('GET', 'library/alpine', digest);
    expect(res.status).toBe(200);
    const started = Date.now();
    await expect(readAll(res.body)).rejects.toMatchObject({ code: 'UND_ERR_BODY_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('never has more transfers in flight than `concurrency`, holding a slot until the body ends', async () => {
    const { up, client } = await setup({}, { concurrency: 2 });
    up.faults.throttle = { bytesPerChunk: 2_000, intervalMs: 20 };
    const blobs = Array.from({ length: 5 }, (_, i) => Buffer.alloc(20_000, i + 1));
    const digests = blobs.map((b) => up.addBlob(b));

    const bodies = await Promise.all(
      digests.map(async (d) => {
        const res = await client.blob('GET', 'library/alpine', d);
        return readAll(res.body);
      }),
    );
    bodies.forEach((b, i) => expect(b.equals(blobs[i]!)).toBe(true));
    expect(up.count({ kind: 'cdn', status: 200 })).toBe(5);
    expect(up.maxInFlight('cdn')).toBe(2);
  });

  it('releases the slot after HEAD, errors, error statuses and destroyed bodies', async () => {
    const { up, client } = await setup({}, { concurrency: 1 });
    const digest = up.addBlob(Buffer.alloc(500_000, 3));

    await client.blob('HEAD', 'library/alpine', digest);
    const abandoned = await client.blob('GET', 'library/alpine', digest);
    abandoned.body.destroy();
    await readAll((await client.manifest('GET', 'library/alpine', 'missing')).body);
    up.faults.down = true;
    await thrown(client.blob('GET', 'library/alpine', digest));
    up.faults.down = false;

    // With a leaked slot this would wait forever (and the test time out).
    const res = await client.blob('GET', 'library/alpine', digest);
    expect((await readAll(res.body)).length).toBe(500_000);
  }, 15_000);
});

describe('upstream client: statuses and failures', () => {
  it('returns a 404 as a status, with its body', async () => {
    const { client } = await setup();
    const res = await client.manifest('GET', 'library/alpine', 'nope');
    expect(res.status).toBe(404);
    const body = JSON.parse((await readAll(res.body)).toString()) as { errors: Array<{ code: string }> };
    expect(body.errors[0]?.code).toBe('MANIFEST_UNKNOWN');
  });

  it('returns a 429 on GET but not on HEAD when rate-limited', async () => {
    const { up, client } = await setup();
    const img = up.addImage('library/alpine', 'latest', { layers: [] });
    up.faults.rateLimit = true;
    const head = await client.manifest('HEAD', 'library/alpine', 'latest');
    expect(head.status).toBe(200);
    expect(head.headers['docker-content-digest']).toBe(img.digest);
    const get = await client.manifest('GET', 'library/alpine', 'latest');
    expect(get.status).toBe(429);
    await readAll(get.body);
  });

  it('turns a dropped connection into UPSTREAM_UNAVAILABLE (502)', async () => {
    const { up, client } = await setup();
    up.faults.down = true;
    const err = await thrown(client.manifest('GET', 'library/alpine', 'latest'));
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(err.status).toBe(502);
    expect(err.detail).toMatchObject({ upstream: 'fake' });
    expect(err.cause).toBeDefined();
  });

  it('turns a refused connection into UPSTREAM_UNAVAILABLE (502)', async () => {
    const { up, client } = await setup();
    await up.close();
    const err = await thrown(client.tags('library/alpine', {}));
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    // The client sees the upstream's name and a generic reason; the address stays in the cause.
    expect(err.detail).toEqual({ upstream: 'fake', reason: 'connection refused' });
    expect(JSON.stringify(err.toJSON())).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
    expect((err.cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('turns a slow answer into UPSTREAM_TIMEOUT (504)', async () => {
    const { up, client } = await setup({}, { timeoutMs: 300 });
    up.faults.delayMs = 2_000;
    const err = await thrown(client.manifest('HEAD', 'library/alpine', 'latest'));
    expect(err.code).toBe('UPSTREAM_TIMEOUT');
    expect(err.status).toBe(504);
  });

  it('passes tags pagination through', async () => {
    const { up, client } = await setup();
    const img = up.addImage('library/alpine', '3.19', { layers: [] });
    for (const t of ['3.20', 'edge', 'latest']) up.setTag('library/alpine', t, img.digest);
    const res = await client.tags('library/alpine', { n: 2, last: '3.19' });
    expect(res.status).toBe(200);
    expect(JSON.parse((await readAll(res.body)).toString())).toEqual({ name: 'library/alpine', tags: ['3.20', 'edge'] });
    expect(res.headers['link']).toBe('</v2/library/alpine/tags/list?n=2&last=edge>; rel="next"');
    expect(up.requests.find((r) => r.kind === 'tags' && r.status === 200)?.query).toBe('n=2&last=3.19');
  });

  it('refuses requests after close()', async () => {
    const { client } = await setup();
    await client.close();
    expect((await thrown(client.manifest('GET', 'a', 'b'))).code).toBe('UPSTREAM_UNAVAILABLE');
  });
});

describe('upstream client: redirects', () => {
  /** A raw server: /v2/r/blobs/<d> redirects relatively to /relative/1, which redirects to /relative/2 ... */
  async function redirectServer(): Promise<{ url: string; seen: Array<{ path: string; auth?: string }> }> {
    const seen: Array<{ path: string; auth?: string }> = [];
    const server: Server = createServer((req, res) => {
      seen.push({ path: req.url ?? '', ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
      const path = req.url ?? '';
      if (path.startsWith('/v2/ok/blobs/final')) {
        res.writeHead(200, { 'content-length': 4 }).end('done');
      } else if (path.startsWith('/v2/ok/')) {
        res.writeHead(302, { location: 'final?x=1' }).end();
      } else {
        res.writeHead(307, { location: `/loop/${seen.length}` }).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(() => r())));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
  }

  it('resolves a relative Location against the URL that sent it', async () => {
    const { url, seen } = await redirectServer();
    const client = createUpstreamClient({ name: 'raw', url, connectTimeoutMs: 1000, timeoutMs: 2000, concurrency: 2, tagTtlMs: 0, officialPrefix: '', ...LIMITS });
    cleanups.push(() => client.close());
    // /v2/ok/blobs/<digest> → 302 "final?x=1" → /v2/ok/blobs/final?x=1
    const res = await client.blob('GET', 'ok', 'sha256:' + 'a'.repeat(64));
    expect(res.status).toBe(200);
    expect((await readAll(res.body)).toString()).toBe('done');
    expect(seen.map((s) => s.path)).toEqual([`/v2/ok/blobs/sha256:${'a'.repeat(64)}`, '/v2/ok/blobs/final?x=1']);
  });

  it('gives up after 5 redirects', async () => {
    const { url, seen } = await redirectServer();
    const client = createUpstreamClient({ name: 'raw', url, connectTimeoutMs: 1000, timeoutMs: 2000, concurrency: 2, tagTtlMs: 0, officialPrefix: '', ...LIMITS });
    cleanups.push(() => client.close());
    const err = await thrown(client.blob('GET', 'loop', 'sha256:' + 'b'.repeat(64)));
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(seen).toHaveLength(6);
  });
});

describe('upstream client: latency', () => {
  it('reports each request\'s kind and time to headers once (after a 401, the retried request; the token fetch as "token"); failures report nothing', async () => {
    const up = await startFakeUpstream();
    cleanups.push(() => up.close());
    const timed: Array<[string, number]> = [];
    const config = { name: 'fake', url: up.url, connectTimeoutMs: 2_000, timeoutMs: 5_000, concurrency: 4, tagTtlMs: 60_000, officialPrefix: 'library/', ...LIMITS };
    const client = createUpstreamClient(config, { timing: (kind, seconds) => { timed.push([kind, seconds]); } });
    cleanups.push(() => client.close());
    const img = up.addImage('library/alpine', '3.20', { layers: [Buffer.from('a')] });
    await readAll((await client.manifest('GET', 'library/alpine', '3.20')).body);
    await client.manifest('HEAD', 'library/alpine', '3.20');
    await readAll((await client.blob('GET', 'library/alpine', img.layers[0]!)).body);
    await client.blob('HEAD', 'library/alpine', img.layers[0]!);
    await readAll((await client.tags('library/alpine', {})).body);
    expect(timed.map(([kind]) => kind)).toEqual(['token', 'manifest_get', 'manifest_head', 'blob_get', 'blob_head', 'tags']);
    for (const [, seconds] of timed) expect(seconds).toBeGreaterThanOrEqual(0);

    const down = createUpstreamClient({ ...config, url: 'http://127.0.0.1:1' }, { timing: (kind, seconds) => { timed.push([kind, seconds]); } });
    cleanups.push(() => down.close());
    await thrown(down.manifest('GET', 'library/alpine', '3.20'));
    expect(timed).toHaveLength(6);
  });
});
