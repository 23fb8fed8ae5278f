/**
 * Password guessing against the private registry: wrong passwords are limited per client
 * address and per user (429 TOOMANYREQUESTS with Retry-After, the password not even
 * checked), X-Forwarded-For names the client only when it comes from a trusted proxy, and
 * bcrypt runs off the event loop, so cached pulls stay responsive under a flood of guesses.
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { request } from 'undici';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { htpasswdLine, makeHtpasswd } from '../helpers/htpasswd.js';
import { startLocalRegistry, type LocalRegistry } from '../helpers/local-registry.js';
import { startMirrorApp } from '../helpers/mirror-app.js';
import { basicAuth, createOciClient } from '../helpers/oci-client.js';

const from = (address: string) => ({ 'x-forwarded-for': address });

describe('failed logins are limited (auth.max_failures: 3, auth.max_user_failures: 6)', () => {
  let reg: LocalRegistry;
  beforeAll(async () => {
    reg = await startLocalRegistry({
      MIRROR_HTTP_TRUSTED_PROXIES: '127.0.0.1', // so that X-Forwarded-For names test clients
      MIRROR_AUTH_MAX_FAILURES: '3', MIRROR_AUTH_MAX_USER_FAILURES: '6', MIRROR_AUTH_FAILURE_WINDOW: '1m',
    });
    await reg.alice.pushImage('team/app', 'v1');
  });
  afterAll(async () => {
    await reg?.close();
  });

  test('after 3 wrong passwords an address gets 429 with Retry-After, even with the right password; another address logs in', async () => {
    const wrong = basicAuth('alice', 'guess');
    for (let i = 0; i < 3; i++) {
      expect((await reg.anon.call('/v2/team/app/manifests/v1', { auth: wrong, headers: from('198.51.100.1') })).status).toBe(401);
    }
    for (const path of ['/v2/team/app/manifests/v1', '/v2/', '/auth/token?service=registry-mirror']) {
      const r = await reg.alice.call(path, { headers: from('198.51.100.1') });
      expect(r.status).toBe(429);
      expect(r.codes()).toEqual(['TOOMANYREQUESTS']);
      const retryAfter = Number(r.header('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    expect((await reg.alice.call('/v2/team/app/manifests/v1', { headers: from('198.51.100.2') })).status).toBe(200);
  });

  test('after 6 wrong passwords for bob from many addresses, bob is locked everywhere for the window; alice is not', async () => {
    for (let i = 0; i < 6; i++) {
      await reg.anon.call('/v2/team/app/manifests/v1', { auth: basicAuth('bob', 'guess'), headers: from(`203.0.113.${i}`) });
    }
    const locked = await reg.bob.call('/v2/team/app/manifests/v1', { headers: from('192.0.2.50') });
    expect(locked.status).toBe(429);
    expect(Number(locked.header('retry-after'))).toBeGreaterThan(0);
    expect((await reg.alice.call('/v2/team/app/manifests/v1', { headers: from('192.0.2.50') })).status).toBe(200);
    reg.mirror.advance(61_000);
    expect((await reg.bob.call('/v2/team/app/manifests/v1', { headers: from('192.0.2.50') })).status).toBe(200);
  });
});

describe('without trusted proxies, X-Forwarded-For does not choose the address the limit counts', () => {
  test('3 wrong passwords with 3 different X-Forwarded-For: the 4th attempt is 429', async () => {
    const reg = await startLocalRegistry({ MIRROR_AUTH_MAX_FAILURES: '3', MIRROR_AUTH_MAX_USER_FAILURES: '100' });
    try {
      for (let i = 0; i < 3; i++) {
        expect((await reg.anon.call('/v2/', { auth: basicAuth('alice', 'guess'), headers: from(`203.0.113.${i}`) })).status).toBe(401);
      }
      expect((await reg.alice.call('/v2/', { headers: from('203.0.113.99') })).status).toBe(429);
    } finally {
      await reg.close();
    }
  });
});

describe('password checks never block the event loop', () => {
  let up: FakeUpstream;
  let users: ReturnType<typeof makeHtpasswd>;
  beforeAll(async () => {
    up = await startFakeUpstream();
    up.addImage('library/alpine', '3.20', { layers: [Buffer.from('alpine layer')] });
    users = makeHtpasswd({});
    // Cost 10 (~0.1 s of CPU a check in bcryptjs), so that checks on the event loop would show.
    writeFileSync(users.file, `${htpasswdLine('alice', 'secret', 10)}\n`);
  });
  afterAll(async () => {
    await up?.close();
    users?.remove();
  });

  test('while 200 wrong-password requests are pending, the event loop stays mostly idle and a cached manifest GET completes', async () => {
    const mirror = await startMirrorApp(up.url, {
      MIRROR_LOCAL_NAMESPACES: 'team/*', MIRROR_AUTH_HTPASSWD: users.file,
      MIRROR_AUTH_MAX_FAILURES: '1000', MIRROR_AUTH_MAX_USER_FAILURES: '1000',
    });
    try {
      const cached = `${mirror.url}/v2/library/alpine/manifests/3.20`;
      const fill = await request(cached); // the first GET caches the manifest
      await fill.body.dump();
      expect(fill.statusCode).toBe(200);

      let settled = 0;
      const wrong = basicAuth('alice', 'not-the-password');
      const guesses = Array.from({ length: 200 }, (_, i) =>
        request(`${mirror.url}/v2/team/app${i}/manifests/v1`, { headers: { authorization: wrong } })
          .then(async (r) => { await r.body.dump(); return r.statusCode; }, () => 0)
          .finally(() => { settled++; }));
      // Let every guess arrive, then watch the loop while their checks are pending: ~0.1 s
      // of bcrypt each, on the event loop, would keep it busy (utilization ≈ 1) for ~20 s.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const before = performance.eventLoopUtilization();
      await new Promise((resolve) => setTimeout(resolve, 500));
      const get = await request(cached);
      await get.body.dump();
      const busy = performance.eventLoopUtilization(before).utilization;
      expect(get.statusCode).toBe(200);
      expect(settled).toBeLessThan(200);
      expect(busy).toBeLessThan(0.5);

      const statuses = await Promise.all(guesses);
      // Each guess is refused: 401 once checked, 429 when the check queue was full.
      expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    } finally {
      await mirror.close();
    }
  });
});
