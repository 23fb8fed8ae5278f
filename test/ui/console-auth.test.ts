/**
 * The console's front door over plain HTTP, as a browser or an attacker sends it: sign-in
 * against the htpasswd users, the session cookie, CSRF on every form, who counts as an
 * admin, the authenticated mode's closed door, and the headers on every answer.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { consoleClient, csrfOf } from '../helpers/console.js';
import { makeHtpasswd } from '../helpers/htpasswd.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';
import { startMirror, type MirrorProcess } from '../helpers/mirror.js';

const NOWHERE = 'http://127.0.0.1:9';

describe('console sign-in, sessions and CSRF (users configured, pulls for users only)', () => {
  let mirror: MirrorApp;
  let users: ReturnType<typeof makeHtpasswd>;

  beforeAll(async () => {
    users = makeHtpasswd({ root: 'root-secret', alice: 'alice-secret' });
    mirror = await startMirrorApp(NOWHERE, {
      MIRROR_AUTH_HTPASSWD: users.file, MIRROR_AUTH_ADMINS: 'root', MIRROR_AUTH_MIRROR_PULL: 'authenticated', MIRROR_AUTH_MAX_FAILURES: '3',
    });
  });
  afterAll(async () => {
    await mirror.close();
    users.remove();
  });

  it('sends an anonymous visitor to the sign-in page, and only there', async () => {
    const browser = consoleClient(mirror.url);
    for (const path of ['/ui/', '/ui/repositories', '/ui/housekeeping', '/ui/no-such-page']) {
      const res = await browser.get(path);
      expect(res.status, path).toBe(303);
      expect(res.headers.location).toBe(`/ui/sign-in?next=${encodeURIComponent(path)}`);
    }
    const page = await browser.get('/ui/sign-in');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<label for="password">Password</label>');
    expect(page.body).not.toContain('Disk used');
    // A POST elsewhere is refused, not redirected into a GET.
    expect((await browser.post('/ui/sign-out', {})).status).toBe(401);
  });

  it('signs a user in with the htpasswd password: an HttpOnly, SameSite session cookie, then back where they were going', async () => {
    const browser = consoleClient(mirror.url);
    await browser.get('/ui/sign-in?next=%2Fui%2Frepositories');
    const res = await browser.post('/ui/sign-in', { username: 'root', password: 'root-secret', next: '/ui/repositories' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/ui/repositories');
    const cookie = [res.headers['set-cookie']].flat().find((c) => c!.startsWith('rm_session='))!;
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Lax/);
    expect(cookie).toMatch(/; Path=\/ui/);
    expect(cookie).not.toMatch(/Secure/); // plain http here; under TLS it is Secure (viewer.ts secureOrigin)
    const overview = await browser.get('/ui/');
    expect(overview.status).toBe(200);
    expect(overview.body).toContain('root (admin)');
    expect(overview.body).toContain('Disk used');
    expect(overview.body).toContain('href="/ui/housekeeping"');
  });

  it('refuses a wrong password with 401 and no session', async () => {
    const browser = consoleClient(mirror.url);
    await browser.get('/ui/sign-in');
    const res = await browser.post('/ui/sign-in', { username: 'alice', password: 'nope' });
    expect(res.status).toBe(401);
    expect(res.body).toContain('Wrong user name or password.');
    expect(browser.cookies.has('rm_session')).toBe(false);
    expect((await browser.get('/ui/')).status).toBe(303);
  });

  it('shows a signed-in non-admin neither the figures nor the housekeeping link', async () => {
    const browser = consoleClient(mirror.url);
    expect((await browser.signIn('alice', 'alice-secret')).status).toBe(303);
    const page = await browser.get('/ui/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('alice');
    expect(page.body).not.toContain('(admin)');
    expect(page.body).not.toContain('Disk used');
    expect(page.body).not.toContain('href="/ui/housekeeping"');
  });

  it('refuses a form without its CSRF token, with another visitor’s token, or from another origin: 403, and nobody is signed in', async () => {
    const browser = consoleClient(mirror.url);
    await browser.get('/ui/sign-in');
    const missing = await browser.post('/ui/sign-in', { username: 'root', password: 'root-secret' }, { csrf: false });
    expect(missing.status).toBe(403);
    expect(missing.body).toContain('CSRF');

    const other = consoleClient(mirror.url);
    const otherPage = await other.get('/ui/sign-in');
    const foreign = await browser.post('/ui/sign-in', { username: 'root', password: 'root-secret', csrf: csrfOf(otherPage.body)! });
    expect(foreign.status).toBe(403);

    const crossSite = await browser.post('/ui/sign-in', { username: 'root', password: 'root-secret' }, { headers: { origin: 'https://evil.example' } });
    expect(crossSite.status).toBe(403);
    expect(browser.cookies.has('rm_session')).toBe(false);
  });

  it('keeps a signed-in session’s forms behind its own token: sign-out without it is refused and the session stays', async () => {
    const browser = consoleClient(mirror.url);
    await browser.signIn('alice', 'alice-secret');
    expect((await browser.post('/ui/sign-out', {}, { csrf: false })).status).toBe(403);
    expect((await browser.get('/ui/')).status).toBe(200);
    const out = await browser.post('/ui/sign-out', {});
    expect(out.status).toBe(303);
    expect(browser.cookies.has('rm_session')).toBe(false);
    expect((await browser.get('/ui/')).status).toBe(303);
  });

  it('treats a forged, tampered or expired session cookie as no session', async () => {
    const browser = consoleClient(mirror.url);
    await browser.signIn('alice', 'alice-secret');
    const good = browser.cookies.get('rm_session')!;
    const [payload, mac] = good.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const forgedPayload = Buffer.from(JSON.stringify({ ...claims, u: 'root' })).toString('base64url');
    for (const bad of [`${forgedPayload}.${mac}`, `${payload}.${mac!.slice(0, -2)}AA`, 'x'.repeat(5000), '.', `${payload}`]) {
      const res = await request(`${mirror.url}/ui/`, { headers: { cookie: `rm_session=${bad}` } });
      await res.body.text();
      expect(res.statusCode, bad.slice(0, 40)).toBe(303);
    }
    mirror.advance(9 * 3_600_000);
    expect((await browser.get('/ui/')).status).toBe(303);
  });

  it('never redirects a sign-in elsewhere than the console', async () => {
    for (const next of ['//evil.example/x', 'https://evil.example/', '/ui//evil.example', '/v2/', '/ui/\\evil', 'javascript:alert(1)']) {
      const browser = consoleClient(mirror.url);
      await browser.get('/ui/sign-in');
      const res = await browser.post('/ui/sign-in', { username: 'root', password: 'root-secret', next });
      expect(res.status, next).toBe(303);
      expect(res.headers.location, next).toBe('/ui/');
    }
  });

  it('answers an oversized or non-form POST with a 4xx page, not a crash', async () => {
    const browser = consoleClient(mirror.url);
    await browser.get('/ui/sign-in');
    expect((await browser.post('/ui/sign-in', { username: 'a'.repeat(100_000), password: 'x' })).status).toBe(413);
    const json = await request(`${mirror.url}/ui/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await json.body.text();
    expect(json.statusCode).toBe(415);
    expect((await browser.get('/ui/sign-in')).status).toBe(200);
  });
});

describe('console headers, assets and the loopback admin (no users configured)', () => {
  let mirror: MirrorApp;
  beforeAll(async () => {
    mirror = await startMirrorApp(NOWHERE);
  });
  afterAll(() => mirror.close());

  it('redirects / to the console', async () => {
    const res = await request(`${mirror.url}/`);
    await res.body.text();
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/ui/');
  });

  it('sends the security headers on pages, error pages and assets: a CSP without inline script, no framing, nosniff', async () => {
    const browser = consoleClient(mirror.url);
    const page = await browser.get('/ui/');
    const missing = await browser.get('/ui/no-such-page');
    expect(missing.status).toBe(404);
    const css = /href="(\/ui\/assets\/console\.[0-9a-f]{12}\.css)"/.exec(page.body)![1]!;
    const asset = await browser.get(css);
    for (const res of [page, missing, asset]) {
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['referrer-policy']).toBe('same-origin');
    }
    expect(page.headers['cache-control']).toBe('no-store');
    expect(asset.headers['cache-control']).toContain('immutable');
    expect(asset.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(asset.body).toContain('prefers-color-scheme: dark');
    // Every script and stylesheet the page names is the mirror's own, and is there.
    const refs = [...page.body.matchAll(/(?:src|href)="(\/ui\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const ref of refs) expect((await browser.get(ref)).status, ref).toBe(200);
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(page.body).not.toMatch(/\sstyle="/);
    expect((await browser.get('/ui/assets/console.000000000000.css')).status).toBe(404);
    expect((await browser.get('/ui/assets/..%2f..%2fpackage.json')).status).toBe(404);
  });

  it('takes a caller on this machine for the admin while nobody can sign in as one, but not one forwarded for someone else', async () => {
    const local = await consoleClient(mirror.url).get('/ui/');
    expect(local.body).toContain('Disk used');
    const forwarded = await consoleClient(mirror.url).get('/ui/', { 'x-forwarded-for': '203.0.113.9' });
    expect(forwarded.status).toBe(200);
    expect(forwarded.body).not.toContain('Disk used');
    const signIn = await consoleClient(mirror.url).get('/ui/sign-in');
    expect(signIn.body).toContain('No users are configured');
  });
});

describe('console sign-in failure limit', () => {
  let mirror: MirrorApp;
  let users: ReturnType<typeof makeHtpasswd>;
  beforeAll(async () => {
    users = makeHtpasswd({ root: 'root-secret' });
    mirror = await startMirrorApp(NOWHERE, { MIRROR_AUTH_HTPASSWD: users.file, MIRROR_AUTH_ADMINS: 'root', MIRROR_AUTH_MAX_FAILURES: '3' });
  });
  afterAll(async () => {
    await mirror.close();
    users.remove();
  });

  it('locks a user out after the configured failures, with Retry-After, even for the right password', async () => {
    const browser = consoleClient(mirror.url);
    await browser.get('/ui/sign-in');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await browser.post('/ui/sign-in', { username: 'locked', password: `guess-${i}` })).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    const again = await browser.post('/ui/sign-in', { username: 'root', password: 'root-secret' });
    expect(again.status).toBe(429);
    expect(Number(again.headers['retry-after'])).toBeGreaterThan(0);
    expect(again.body).toContain('Too many failed sign-ins');
  });

});

describe('console cookies under TLS', () => {
  let dir: string;
  let mirror: MirrorProcess;
  let users: ReturnType<typeof makeHtpasswd>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'console-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    users = makeHtpasswd({ root: 'root-secret' });
    mirror = await startMirror({
      upstreamUrl: NOWHERE, scheme: 'https', caFile: join(dir, 'cert.pem'),
      env: {
        MIRROR_HTTP_TLS_CERTIFICATE: join(dir, 'cert.pem'), MIRROR_HTTP_TLS_KEY: join(dir, 'key.pem'),
        MIRROR_AUTH_HTPASSWD: users.file, MIRROR_AUTH_ADMINS: 'root',
      },
    });
  });
  afterAll(async () => {
    await mirror.destroy();
    users.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('marks the CSRF and session cookies Secure when the console is reached over https', async () => {
    const dispatcher = new Agent({ connect: { ca: readFileSync(join(dir, 'cert.pem')) } });
    try {
      const page = await request(`${mirror.url}/ui/sign-in`, { dispatcher });
      const html = await page.body.text();
      const csrfCookie = String(page.headers['set-cookie']).split(';')[0]!;
      expect(String(page.headers['set-cookie'])).toMatch(/; Secure/);
      const res = await request(`${mirror.url}/ui/sign-in`, {
        dispatcher, method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: csrfCookie, origin: mirror.url },
        body: new URLSearchParams({ csrf: csrfOf(html)!, username: 'root', password: 'root-secret' }).toString(),
      });
      await res.body.text();
      expect(res.statusCode).toBe(303);
      const session = [res.headers['set-cookie']].flat().find((c) => c!.startsWith('rm_session='))!;
      expect(session).toMatch(/; Secure/);
      expect(session).toMatch(/; HttpOnly/);
    } finally {
      await dispatcher.close();
    }
  });
});
