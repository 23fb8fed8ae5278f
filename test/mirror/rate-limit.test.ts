/**
 * Rate-limit awareness (issue 10, item 5): a low ratelimit-remaining budget serves cached
 * tags past their TTL as STALE instead of revalidating them (no HEAD), until the budget
 * recovers; a 429 with Retry-After stops every request to the upstream until then.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';

const TTL_MS = 60_000;
let up: FakeUpstream;
let mirror: MirrorApp;

beforeEach(async () => {
  up = await startFakeUpstream();
  // No eager prefetch: its requests would race the counted ones.
  mirror = await startMirrorApp(up.url, { MIRROR_UPSTREAM_TAG_TTL: '60s', MIRROR_UPSTREAM_PREFETCH: '0' });
});
afterEach(async () => {
  await mirror.close();
  await up.close();
});

function image(repo: string) {
  return up.addImage(`library/${repo}`, 'latest', { layers: [randomBytes(500)] });
}

async function get(path: string, method: 'GET' | 'HEAD' = 'GET') {
  const res = await request(`${mirror.url}${path}`, { method });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body, text: body.toString('utf8') };
}

/** Requests that reached the upstream's registry or CDN, the token dance left out. */
const upstreamRequests = () => up.requests.filter((r) => r.kind !== 'token' && r.status !== 401).length;

describe('rate-limit budget', () => {
  test('low budget: a tag past its TTL is served STALE without a revalidation HEAD; HEADs resume once the budget rises', async () => {
    const img = image('low1');
    image('low2');
    up.faults.rateLimitRemaining = 2; // below the default revalidate_min_budget (5)
    expect((await get('/v2/library/low1/manifests/latest')).status).toBe(200);
    mirror.advance(TTL_MS);

    const stale = await get('/v2/library/low1/manifests/latest');
    expect(stale.status).toBe(200);
    expect(stale.headers['x-cache']).toBe('STALE');
    expect(stale.headers['warning']).toMatch(/^299 /);
    expect(stale.body.equals(img.manifest)).toBe(true);
    expect((await get('/v2/library/low1/manifests/latest', 'HEAD')).headers['x-cache']).toBe('STALE');
    expect(up.count({ kind: 'manifest', method: 'HEAD' })).toBe(0);

    // Another pull announces a recovered budget: revalidation resumes.
    up.faults.rateLimitRemaining = 50;
    expect((await get('/v2/library/low2/manifests/latest')).status).toBe(200);
    const fresh = await get('/v2/library/low1/manifests/latest');
    expect(fresh.headers['x-cache']).toBe('REVALIDATED');
    expect(up.count({ kind: 'manifest', method: 'HEAD', status: 200 })).toBe(1);
  });

  test('429 with Retry-After: no request of any kind reaches the upstream before it; cached served STALE, uncached 429 with Retry-After; after it requests flow', async () => {
    const cached = image('rl1');
    const other = image('rl2');
    expect((await get('/v2/library/rl1/manifests/latest')).status).toBe(200);
    up.faults.rateLimit = true;
    up.faults.retryAfter = '120';
    const limited = await get('/v2/library/rl2/manifests/latest');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('120');
    const sent = upstreamRequests();

    mirror.advance(10_000);
    const again = await get('/v2/library/rl2/manifests/latest');
    expect(again.status).toBe(429);
    expect(JSON.parse(again.text).errors[0].code).toBe('TOOMANYREQUESTS');
    expect(again.headers['retry-after']).toBe('110');
    expect((await get(`/v2/library/rl2/blobs/${other.layers[0]}`)).status).toBe(429);
    mirror.advance(TTL_MS - 10_000); // rl1 past its TTL, still inside Retry-After
    const stale = await get('/v2/library/rl1/manifests/latest');
    expect(stale.status).toBe(200);
    expect(stale.headers['x-cache']).toBe('STALE');
    expect(stale.body.equals(cached.manifest)).toBe(true);
    expect(upstreamRequests()).toBe(sent);

    // Retry-After has passed (and the upstream recovered): requests flow again.
    up.faults.rateLimit = false;
    mirror.advance(120_000 - TTL_MS);
    const after = await get('/v2/library/rl2/manifests/latest');
    expect(after.status).toBe(200);
    expect(after.body.equals(other.manifest)).toBe(true);
    expect(upstreamRequests()).toBeGreaterThan(sent);
  });

  test('budget and rate-limited-until show in /admin/stats and /metrics', async () => {
    image('st1');
    image('st2');
    up.faults.rateLimitRemaining = 7;
    await get('/v2/library/st1/manifests/latest');
    const metrics = (await get('/metrics')).text;
    expect(metrics).toContain('mirror_upstream_ratelimit_remaining{upstream="docker.io"} 7');
    expect(metrics).toContain('mirror_upstream_ratelimit_limit{upstream="docker.io"} 100');
    expect(metrics).toContain('mirror_upstream_rate_limited_seconds{upstream="docker.io"} 0');
    expect(metrics).toContain('mirror_upstream_endpoint_open{upstream="docker.io",endpoint="0"} 0');

    up.faults.rateLimit = true;
    up.faults.retryAfter = '90';
    expect((await get('/v2/library/st2/manifests/latest')).status).toBe(429);
    mirror.advance(30_000);
    const stats = JSON.parse((await get('/admin/stats')).text) as { upstreams: Record<string, { health: Record<string, unknown> }> };
    expect(Object.keys(stats.upstreams)).toEqual(['docker.io']);
    const health = stats.upstreams['docker.io']!.health;
    expect(health).toMatchObject({ name: 'docker.io', rateLimitRemaining: 0, rateLimitLimit: 100 });
    expect(Date.parse(health['rateLimitedUntil'] as string)).toBeGreaterThan(0);
    expect((await get('/metrics')).text).toContain('mirror_upstream_rate_limited_seconds{upstream="docker.io"} 60');
  });
});
