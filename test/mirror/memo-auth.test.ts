/**
 * The memo step of the /v2/ pipeline (a fresh cached tag answered from memory) decides
 * access exactly as the router does: a cached manifest is not easier to get than an
 * uncached one. Through a real Node listener, with htpasswd users and anonymous mirror pulls.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALICE, startLocalRegistry, type LocalRegistry } from '../helpers/local-registry.js';

let reg: LocalRegistry;
const CACHED = '/v2/library/alpine/manifests/3.20';
const UNCACHED = '/v2/library/busybox/manifests/1.36';

beforeAll(async () => {
  reg = await startLocalRegistry();
  reg.up.addImage('library/alpine', '3.20', { layers: [Buffer.from('alpine layer')] });
  reg.up.addImage('library/busybox', '1.36', { layers: [Buffer.from('busybox layer')] });
  expect((await reg.anon.call(CACHED)).header('x-cache')).toBe('MISS');
  expect((await reg.anon.call(CACHED)).header('x-cache')).toBe('HIT');
});
afterAll(async () => {
  await reg?.close();
});

/** Alice's token for another repository only (what `docker pull team/app` would hold). */
async function tokenForTeamApp(): Promise<string> {
  const r = await reg.anon.call(`/auth/token?service=registry-mirror&scope=${encodeURIComponent('repository:team/app:pull')}`, { auth: ALICE });
  expect(r.status).toBe(200);
  const body = r.json<{ token?: string; access_token?: string }>();
  return body.access_token ?? body.token!;
}

describe('the cached-manifest answer and the router agree on access', () => {
  test('anonymous and Basic callers get the cached manifest (HIT)', async () => {
    for (const auth of [null, ALICE]) {
      const r = await reg.anon.call(CACHED, { auth });
      expect(r.status).toBe(200);
      expect(r.header('x-cache')).toBe('HIT');
      expect(r.header('x-content-type-options')).toBe('nosniff');
    }
  });

  test('a token scoped to another repository is challenged for this one, cached or not', async () => {
    const bearer = `Bearer ${await tokenForTeamApp()}`;
    for (const [path, name] of [[UNCACHED, 'library/busybox'], [CACHED, 'library/alpine']] as const) {
      const r = await reg.anon.call(path, { auth: bearer });
      expect(r.status, path).toBe(401);
      expect(r.codes()).toContain('UNAUTHORIZED');
      expect(r.header('www-authenticate')).toContain(`scope="repository:${name}:pull"`);
      expect(r.header('content-type')).toBe('application/json; charset=utf-8');
    }
  });

  test('a HEAD refused by the memo step has no body, as the router\'s', async () => {
    const bearer = `Bearer ${await tokenForTeamApp()}`;
    const r = await reg.anon.call(CACHED, { method: 'HEAD', auth: bearer });
    expect(r.status).toBe(401);
    expect(r.body.length).toBe(0);
  });
});

describe('with auth.mirror_pull: authenticated', () => {
  let closed: LocalRegistry;
  beforeAll(async () => {
    closed = await startLocalRegistry({ MIRROR_AUTH_MIRROR_PULL: 'authenticated' });
    closed.up.addImage('library/alpine', '3.20', { layers: [Buffer.from('alpine layer')] });
    expect((await closed.anon.call(CACHED, { auth: ALICE })).header('x-cache')).toBe('MISS');
    expect((await closed.anon.call(CACHED, { auth: ALICE })).header('x-cache')).toBe('HIT');
  });
  afterAll(async () => {
    await closed?.close();
  });

  test('an anonymous GET or HEAD of a cached tag is challenged, as an uncached one; a user still gets the HIT', async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      for (const path of [CACHED, UNCACHED]) {
        const r = await closed.anon.call(path, { method });
        expect(r.status, `${method} ${path}`).toBe(401);
        expect(r.header('www-authenticate')).toContain('scope="repository:library/');
      }
    }
    const ok = await closed.anon.call(CACHED, { auth: ALICE });
    expect(ok.status).toBe(200);
    expect(ok.header('x-cache')).toBe('HIT');
  });
});
