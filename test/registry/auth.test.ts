/**
 * Credentials and access rules for the private registry: htpasswd users (bcrypt, as
 * `htpasswd -B` writes them), Basic on /v2/ requests, the token service at /auth/token, 401
 * challenges when credentials are missing or wrong, 403 DENIED when they are not enough,
 * and pushes to mirrored names refused without the upstream ever seeing a write.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startMirrorApp } from '../helpers/mirror-app.js';
import { ALICE, BOB, startLocalRegistry, type LocalRegistry } from '../helpers/local-registry.js';
import { basicAuth, createOciClient, imageManifest, MT, sha256, type OciClient, type PushedImage } from '../helpers/oci-client.js';

const RULES = [
  { repository: 'team/*', pull: ['*'], push: ['alice'], delete: ['alice'] },
  { repository: 'private/bob/**', pull: ['alice', 'bob'], push: ['bob'], delete: ['bob'] },
  { repository: 'private/**', pull: ['alice'], push: ['alice'], delete: ['alice'] },
];

let reg: LocalRegistry;
let alice: OciClient;
let bob: OciClient;
let anon: OciClient;
let teamImage: PushedImage;
let privateImage: PushedImage;

beforeAll(async () => {
  reg = await startLocalRegistry({ MIRROR_AUTH_RULES: JSON.stringify(RULES), MIRROR_AUTH_ADMINS: 'alice' });
  ({ alice, bob, anon } = reg);
  teamImage = await alice.pushImage('team/app', 'v1');
  privateImage = await alice.pushImage('private/alice/app', 'v1');
  reg.up.addImage('library/alpine', '3.20', { layers: [Buffer.from('alpine layer')] });
});
afterAll(async () => {
  await reg?.close();
});

/** The parameters of a Bearer challenge. */
function challenge(header: string): Record<string, string> {
  expect(header.startsWith('Bearer realm="')).toBe(true);
  return Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

async function token(scope: string, auth: string | null): Promise<{ status: number; token?: string }> {
  const r = await anon.call(`/auth/token?service=registry-mirror&scope=${encodeURIComponent(scope)}`, { auth });
  if (r.status !== 200) return { status: r.status };
  const body = r.json<{ token?: string; access_token?: string }>();
  return { status: 200, token: body.access_token ?? body.token };
}

describe('GET /v2/ (end-1)', () => {
  test('without credentials: 401 with a Bearer challenge pointing at /auth/token', async () => {
    const r = await anon.call('/v2/');
    expect(r.status).toBe(401);
    expect(r.codes()).toContain('UNAUTHORIZED');
    expect(r.header('docker-distribution-api-version')).toBe('registry/2.0');
    const params = challenge(r.header('www-authenticate'));
    expect(params.realm).toBe(`${reg.mirror.url}/auth/token`);
    expect(params.service).toBe('registry-mirror');
  });

  test('valid Basic credentials: 200; a wrong password or an unknown user: 401', async () => {
    expect((await alice.call('/v2/')).status).toBe(200);
    expect((await bob.call('/v2/')).status).toBe(200);
    expect((await anon.call('/v2/', { auth: basicAuth('alice', 'wrong') })).status).toBe(401);
    expect((await anon.call('/v2/', { auth: basicAuth('mallory', 'secret') })).status).toBe(401);
  });
});

describe('missing or wrong credentials: 401', () => {
  test('a push without credentials: 401 with the push scope in the challenge; nothing created', async () => {
    const r = await anon.call('/v2/team/app/blobs/uploads/', { method: 'POST' });
    expect(r.status).toBe(401);
    expect(r.codes()).toContain('UNAUTHORIZED');
    expect(challenge(r.header('www-authenticate')).scope).toBe('repository:team/app:pull,push');
    const put = await anon.putManifest('team/app', 'anon', teamImage.manifest, MT.manifest);
    expect(put.status).toBe(401);
    expect(await reg.mirror.ports.tags.getTag('team/app', 'anon')).toBeUndefined();
  });

  test('a push with a wrong password: 401', async () => {
    const wrong = createOciClient(reg.mirror.url, basicAuth('alice', 'not-secret'));
    expect((await wrong.call('/v2/team/app/blobs/uploads/', { method: 'POST' })).status).toBe(401);
    expect((await wrong.putManifest('team/app', 'wrong', teamImage.manifest, MT.manifest)).status).toBe(401);
    expect(await reg.mirror.ports.tags.getTag('team/app', 'wrong')).toBeUndefined();
  });

  test('an anonymous pull of a local repository whose rule wants a user: 401', async () => {
    const r = await anon.call('/v2/team/app/manifests/v1');
    expect(r.status).toBe(401);
    expect(r.header('www-authenticate')).toContain('repository:team/app:pull');
  });

  test('every 401 body carries a detail naming what was asked, as Distribution answers (dockerd gives up at once)', async () => {
    const push = await anon.call('/v2/team/app/blobs/uploads/', { method: 'POST' });
    expect(push.status).toBe(401);
    expect(push.json<{ errors: Array<{ detail?: unknown }> }>().errors[0]!.detail).toEqual([
      { Type: 'repository', Class: '', Name: 'team/app', Action: 'pull' },
      { Type: 'repository', Class: '', Name: 'team/app', Action: 'push' },
    ]);
    const pull = await anon.call('/v2/team/app/manifests/v1');
    expect(pull.json<{ errors: Array<{ detail?: unknown }> }>().errors[0]!.detail).toEqual([
      { Type: 'repository', Class: '', Name: 'team/app', Action: 'pull' },
    ]);
    for (const r of [await anon.call('/v2/'), await anon.call('/auth/token?service=registry-mirror', { auth: basicAuth('alice', 'nope') })]) {
      expect(r.status).toBe(401);
      expect(r.json<{ errors: Array<{ detail?: unknown }> }>().errors[0]!.detail).toBeDefined();
    }
  });

  test('a garbage Bearer token: 401', async () => {
    expect((await anon.call('/v2/team/app/manifests/v1', { auth: 'Bearer not.a.token' })).status).toBe(401);
  });
});

describe('authenticated but not allowed: 403 DENIED', () => {
  test('bob may pull team/* but not push: POST upload and PUT manifest are 403 DENIED', async () => {
    expect((await bob.call('/v2/team/app/manifests/v1')).body.equals(teamImage.manifest)).toBe(true);
    const post = await bob.call('/v2/team/app/blobs/uploads/', { method: 'POST' });
    expect(post.status).toBe(403);
    expect(post.codes()).toContain('DENIED');
    const put = await bob.putManifest('team/app', 'bob', teamImage.manifest, MT.manifest);
    expect(put.status).toBe(403);
    expect(put.codes()).toContain('DENIED');
    expect(await reg.mirror.ports.tags.getTag('team/app', 'bob')).toBeUndefined();
  });

  test('bob may not delete in team/*: manifest and blob DELETE are 403 DENIED and the content stays', async () => {
    const m = await bob.call(`/v2/team/app/manifests/${teamImage.descriptor.digest}`, { method: 'DELETE' });
    expect(m.status).toBe(403);
    expect(m.codes()).toContain('DENIED');
    const b = await bob.call(`/v2/team/app/blobs/${teamImage.layers[0]!.digest}`, { method: 'DELETE' });
    expect(b.status).toBe(403);
    expect((await alice.call('/v2/team/app/manifests/v1')).status).toBe(200);
    expect((await alice.call(`/v2/team/app/blobs/${teamImage.layers[0]!.digest}`)).status).toBe(200);
  });

  test('bob may not pull private/** (alice only): 403 DENIED; alice may', async () => {
    const r = await bob.call('/v2/private/alice/app/manifests/v1');
    expect(r.status).toBe(403);
    expect(r.codes()).toContain('DENIED');
    expect((await bob.call(`/v2/private/alice/app/blobs/${privateImage.layers[0]!.digest}`)).status).toBe(403);
    expect((await alice.call('/v2/private/alice/app/manifests/v1')).body.equals(privateImage.manifest)).toBe(true);
  });

  test('a mount from a repository the caller may not pull is no mount: 202, and the blob stays hidden', async () => {
    const digest = privateImage.layers[0]!.digest;
    const r = await bob.call(`/v2/private/bob/app/blobs/uploads/?mount=${digest}&from=private/alice/app`, { method: 'POST' });
    expect(r.status).toBe(202);
    expect(await reg.mirror.ports.blobs.hasRepoBlob('private/bob/app', digest)).toBe(false);
    expect((await bob.call(`/v2/private/bob/app/blobs/${digest}`)).status).toBe(404);
  });

  test('the catalog lists only what the caller may pull', async () => {
    await bob.pushImage('private/bob/tools', 'v1');
    const list = async (c: OciClient) => (await c.call('/v2/_catalog')).json<{ repositories: string[] }>().repositories;
    const seenByBob = await list(bob);
    expect(seenByBob).toEqual(expect.arrayContaining(['private/bob/tools', 'team/app']));
    expect(seenByBob).not.toContain('private/alice/app');
    expect(seenByBob).toEqual([...seenByBob].sort());
    expect(await list(alice)).toEqual(expect.arrayContaining(['private/alice/app', 'private/bob/tools', 'team/app']));
  });
});

describe('token service (/auth/token)', () => {
  test('alice gets a token with Basic; pushing a blob and a manifest with Bearer <token> works', async () => {
    const t = await token('repository:team/app:pull,push', ALICE);
    expect(t.status).toBe(200);
    expect(typeof t.token).toBe('string');
    const withToken = createOciClient(reg.mirror.url, `Bearer ${t.token!}`);
    const bytes = randomBytes(1000);
    expect((await withToken.pushBlob('team/app', bytes)).digest).toBe(sha256(bytes));
    const img = await withToken.pushImage('team/app', 'by-token');
    expect((await alice.call('/v2/team/app/manifests/by-token')).body.equals(img.manifest)).toBe(true);
  });

  test('a token request with a wrong password: 401', async () => {
    expect((await token('repository:team/app:pull,push', basicAuth('alice', 'nope'))).status).toBe(401);
  });

  test('bob\'s token may pull team/app but cannot push there', async () => {
    const t = await token('repository:team/app:pull,push', BOB);
    expect(t.status).toBe(200);
    const withToken = createOciClient(reg.mirror.url, `Bearer ${t.token!}`);
    expect((await withToken.call('/v2/team/app/manifests/v1')).status).toBe(200);
    const post = await withToken.call('/v2/team/app/blobs/uploads/', { method: 'POST' });
    expect([401, 403]).toContain(post.status);
    expect([401, 403]).toContain((await withToken.putManifest('team/app', 'bob-token', teamImage.manifest, MT.manifest)).status);
    expect(await reg.mirror.ports.tags.getTag('team/app', 'bob-token')).toBeUndefined();
  });
});

describe('mirrored names are read-only', () => {
  test('anonymous pulls of mirrored content still work with users configured', async () => {
    const r = await anon.call('/v2/library/alpine/manifests/3.20');
    expect(r.status).toBe(200);
  });

  test('pushes to library/alpine are 403 DENIED even for alice, a non-admin DELETE too, and the upstream sees no write', async () => {
    const bytes = Buffer.from('shadow layer');
    const replies = [
      await alice.call('/v2/library/alpine/blobs/uploads/', { method: 'POST' }),
      await alice.call(`/v2/library/alpine/blobs/uploads/?digest=${sha256(bytes)}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes }),
      await alice.putManifest('library/alpine', '3.20', imageManifest({ config: teamImage.config, layers: teamImage.layers }), MT.manifest),
    ];
    for (const r of replies) {
      expect(r.status).toBe(403);
      expect(r.codes()).toContain('DENIED');
    }
    const del = await bob.call('/v2/library/alpine/manifests/3.20', { method: 'DELETE' });
    expect([403, 405]).toContain(del.status);
    // alice is an admin: her DELETE evicts the cached copy only (issue 11); the upstream sees no write.
    expect((await alice.call('/v2/library/alpine/manifests/3.20', { method: 'DELETE' })).status).toBe(202);
    expect(reg.up.requests.filter((q) => !['GET', 'HEAD'].includes(q.method))).toEqual([]);
    expect(reg.up.requests.filter((q) => q.path.includes('/uploads'))).toEqual([]);
    expect((await anon.call('/v2/library/alpine/manifests/3.20')).status).toBe(200);
  });
});

describe('admin surfaces need an admin (auth.admins: [alice])', () => {
  test('/admin/stats and /metrics: anonymous 401 with a Basic challenge and a detail; bob 403 DENIED; alice 200', async () => {
    for (const path of ['/admin/stats', '/metrics']) {
      const r = await anon.call(path);
      expect(r.status).toBe(401);
      expect(r.codes()).toEqual(['UNAUTHORIZED']);
      expect(r.header('www-authenticate')).toMatch(/^Basic realm="/);
      expect(r.json<{ errors: Array<{ detail?: unknown }> }>().errors[0]!.detail).toBeDefined();
      expect(r.body.toString()).not.toContain('mirror_');
      const denied = await bob.call(path);
      expect(denied.status).toBe(403);
      expect(denied.codes()).toEqual(['DENIED']);
      expect((await alice.call(path)).status).toBe(200);
    }
    expect((await alice.call('/metrics')).body.toString()).toContain('mirror_blobs');
  });

  test('an admin\'s token opens them too; /healthz stays open to anyone', async () => {
    const t = await token('repository:team/app:pull', ALICE);
    expect((await anon.call('/admin/stats', { auth: `Bearer ${t.token!}` })).status).toBe(200);
    expect((await anon.call('/healthz')).status).toBe(200);
  });
});

describe('forwarded headers', () => {
  test('from an untrusted client, X-Forwarded-Host and -Proto do not shape the challenge realm', async () => {
    const r = await anon.call('/v2/', { headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' } });
    expect(r.status).toBe(401);
    const realm = challenge(r.header('www-authenticate')).realm!;
    expect(realm).toBe(`${reg.mirror.url}/auth/token`);
    expect(realm).not.toContain('evil.example');
  });

  test('from a trusted proxy (http.trusted_proxies), they do', async () => {
    const proxied = await startLocalRegistry({ MIRROR_HTTP_TRUSTED_PROXIES: '127.0.0.1/32,::1' });
    try {
      const r = await proxied.anon.call('/v2/', { headers: { 'x-forwarded-host': 'mirror.example', 'x-forwarded-proto': 'https' } });
      expect(challenge(r.header('www-authenticate')).realm).toBe('https://mirror.example/auth/token');
    } finally {
      await proxied.close();
    }
  });
});

describe('admin surfaces without users (the default anonymous mirror)', () => {
  test('answer callers on this machine, and 403 to callers forwarded from elsewhere', async () => {
    const direct = await startMirrorApp(reg.up.url);
    const proxied = await startMirrorApp(reg.up.url, { MIRROR_HTTP_TRUSTED_PROXIES: '127.0.0.1' });
    try {
      const local = createOciClient(direct.url);
      expect((await local.call('/metrics')).status).toBe(200);
      expect((await local.call('/admin/stats')).status).toBe(200);
      // An untrusted local peer forwarding for someone (a proxy not listed): not local.
      const viaProxy = await local.call('/admin/stats', { headers: { 'x-forwarded-for': '203.0.113.7' } });
      expect(viaProxy.status).toBe(403);
      expect(viaProxy.codes()).toEqual(['DENIED']);
      // Through a listed proxy: the forwarded client is remote.
      const remote = createOciClient(proxied.url);
      for (const path of ['/metrics', '/admin/stats']) {
        expect((await remote.call(path, { headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(403);
      }
      expect((await remote.call('/metrics', { headers: { 'x-forwarded-for': '127.0.0.1' } })).status).toBe(200);
      expect((await remote.call('/healthz', { headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(200);
    } finally {
      await direct.close();
      await proxied.close();
    }
  });

  test('auth.metrics_anonymous opens /metrics (only) to remote callers', async () => {
    const open = await startMirrorApp(reg.up.url, { MIRROR_HTTP_TRUSTED_PROXIES: '127.0.0.1', MIRROR_AUTH_METRICS_ANONYMOUS: 'true' });
    try {
      const remote = createOciClient(open.url);
      expect((await remote.call('/metrics', { headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(200);
      expect((await remote.call('/admin/stats', { headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(403);
    } finally {
      await open.close();
    }
  });
});
