import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { sha256, startFakeUpstream, type FakeUpstream } from './fake-upstream.js';

/** Checks of the fake itself: the other suites trust it to behave like Docker Hub. */

let up: FakeUpstream;

beforeEach(async () => {
  up = await startFakeUpstream();
});
afterEach(async () => {
  await up.close();
});

async function token(repo: string): Promise<string> {
  const res = await request(`${up.url}/token?service=${up.service}&scope=repository:${repo}:pull`);
  const body = (await res.body.json()) as { token: string; access_token: string; expires_in: number };
  expect(body.expires_in).toBe(300);
  return body.access_token;
}

/** GET a blob the way a client does: registry (with token) → 307 → CDN (without). */
async function getBlob(repo: string, digest: string, range?: string): Promise<{ status: number; bytes: Buffer; error?: unknown }> {
  const t = await token(repo);
  const res = await request(`${up.url}/v2/${repo}/blobs/${digest}`, { headers: { authorization: `Bearer ${t}` } });
  await res.body.dump();
  expect(res.statusCode).toBe(307);
  const location = String(res.headers['location']);
  expect(location.startsWith(`${up.cdnUrl}/blobs/${digest}?sig=`)).toBe(true);
  const cdn = await request(location, range ? { headers: { range } } : {});
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of cdn.body) chunks.push(chunk as Buffer);
  } catch (error) {
    return { status: cdn.statusCode, bytes: Buffer.concat(chunks), error };
  }
  return { status: cdn.statusCode, bytes: Buffer.concat(chunks) };
}

describe('fake upstream', () => {
  it('challenges, issues a token scoped to the repository, and serves a manifest with it', async () => {
    const img = up.addImage('library/alpine', '3.20', { layers: [Buffer.from('layer')] });

    const anon = await request(`${up.url}/v2/library/alpine/manifests/3.20`);
    await anon.body.dump();
    expect(anon.statusCode).toBe(401);
    expect(anon.headers['www-authenticate']).toBe(
      `Bearer realm="${up.url}/token",service="fake.registry",scope="repository:library/alpine:pull"`,
    );

    const other = await token('library/busybox');
    const wrongScope = await request(`${up.url}/v2/library/alpine/manifests/3.20`, { headers: { authorization: `Bearer ${other}` } });
    await wrongScope.body.dump();
    expect(wrongScope.statusCode).toBe(401);

    const t = await token('library/alpine');
    const res = await request(`${up.url}/v2/library/alpine/manifests/3.20`, { headers: { authorization: `Bearer ${t}` } });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    expect(res.statusCode).toBe(200);
    expect(res.headers['docker-content-digest']).toBe(img.digest);
    expect(res.headers['content-type']).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(sha256(bytes)).toBe(img.digest);
    expect(res.headers['ratelimit-remaining']).toBe('99;w=21600');
  });

  it('serves blobs through the CDN, with ranges, and refuses Authorization there', async () => {
    const data = Buffer.from('0123456789abcdef');
    const digest = up.addBlob(data);

    expect((await getBlob('a/b/c', digest)).bytes.equals(data)).toBe(true);
    const ranged = await getBlob('a/b/c', digest, 'bytes=10-');
    expect(ranged.status).toBe(206);
    expect(ranged.bytes.toString()).toBe('abcdef');
    expect((await getBlob('a/b/c', digest, 'bytes=2-4')).bytes.toString()).toBe('234');

    const withAuth = await request(`${up.cdnUrl}/blobs/${digest}?sig=x`, { headers: { authorization: 'Bearer x' } });
    await withAuth.body.dump();
    expect(withAuth.statusCode).toBe(400);
    expect(up.count({ kind: 'cdn', status: 400 })).toBe(1);
  });

  it('corrupt flips one byte and keeps the length', async () => {
    const data = Buffer.alloc(1000, 7);
    const digest = up.addBlob(data);
    up.faults.corrupt.add(digest);
    const { bytes } = await getBlob('x/y', digest);
    expect(bytes.length).toBe(1000);
    expect(sha256(bytes)).not.toBe(digest);
    expect([...bytes].filter((b, i) => b !== data[i]).length).toBe(1);
  });

  it('cutAfter sends that many bytes, then the connection breaks', async () => {
    const data = Buffer.alloc(100_000, 1);
    const digest = up.addBlob(data);
    up.faults.cutAfter.set(digest, 30_000);
    const got = await getBlob('x/y', digest);
    expect(got.error).toBeDefined();
    expect(got.bytes.length).toBe(30_000);
  });

  it('rateLimit answers manifest GETs with 429 but HEADs with 200', async () => {
    const img = up.addImage('library/alpine', 'latest', { layers: [Buffer.from('l')], mediaType: 'docker' });
    up.faults.rateLimit = true;
    const t = await token('library/alpine');
    const headers = { authorization: `Bearer ${t}` };

    const head = await request(`${up.url}/v2/library/alpine/manifests/latest`, { method: 'HEAD', headers });
    await head.body.dump();
    expect(head.statusCode).toBe(200);
    expect(head.headers['docker-content-digest']).toBe(img.digest);
    expect(Number(head.headers['content-length'])).toBe(img.manifest.length);

    const get = await request(`${up.url}/v2/library/alpine/manifests/latest`, { headers });
    const body = (await get.body.json()) as { errors: Array<{ code: string }> };
    expect(get.statusCode).toBe(429);
    expect(body.errors[0]?.code).toBe('TOOMANYREQUESTS');
  });

  it('paginates tags in lexical order with a Link header', async () => {
    const img = up.addImage('team/app', 'b', { layers: [] });
    for (const tag of ['a', 'd', 'c']) up.setTag('team/app', tag, img.digest);
    const t = await token('team/app');
    const headers = { authorization: `Bearer ${t}` };

    const page1 = await request(`${up.url}/v2/team/app/tags/list?n=2`, { headers });
    expect(await page1.body.json()).toEqual({ name: 'team/app', tags: ['a', 'b'] });
    expect(page1.headers['link']).toBe('</v2/team/app/tags/list?n=2&last=b>; rel="next"');
    const page2 = await request(`${up.url}/v2/team/app/tags/list?n=2&last=b`, { headers });
    expect(await page2.body.json()).toEqual({ name: 'team/app', tags: ['c', 'd'] });
    expect(page2.headers['link']).toBeUndefined();
  });

  it('down destroys the connection, and reset() clears faults and counts', async () => {
    up.faults.down = true;
    await expect(request(`${up.url}/v2/`)).rejects.toThrow();
    await expect(request(`${up.url}/v2/a/manifests/latest`, { method: 'HEAD' })).rejects.toThrow();
    expect(up.count({ kind: 'ping' })).toBe(1);
    expect(up.count({ kind: 'manifest', method: 'HEAD' })).toBe(1);
    up.reset();
    expect(up.count()).toBe(0);
    const res = await request(`${up.url}/v2/`);
    await res.body.dump();
    expect(res.statusCode).toBe(401);
  });
});
