/**
 * The console end to end in chromium, against the mirror as users run it (dist/, its own
 * process) in front of a real upstream (Distribution 2.8 behind token auth), with users
 * from htpasswd: `admin` (in auth.admins) and `viewer` (not), and pulls reserved to users
 * (auth.mirror_pull: authenticated).
 *
 * The story: an anonymous visitor meets the sign-in page only; the admin signs in and reads
 * the disk figure; skopeo pulls through the mirror; the figure grows; the admin finds the
 * repository by search, opens the tag, copies the pull line (which skopeo then pulls), evicts
 * the image and sees the figure drop. The viewer sees no admin part, and the server refuses
 * the admin actions even to plain HTTP requests that bypass the pages, and any form without
 * its CSRF token. Every page passes axe and the CSP at desktop and phone width, and is
 * screenshotted into test-output/screenshots/.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkPage, launchBrowser, openPage } from '../helpers/browser.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { consoleClient } from '../helpers/console.js';
import { makeHtpasswd } from '../helpers/htpasswd.js';
import { startMirror, type MirrorProcess } from '../helpers/mirror.js';
import { seedImage, type SeededImage } from '../helpers/seed.js';
import { skopeoCopy, skopeoInspectDigest } from '../helpers/skopeo.js';
import { docsScreenshot } from './screenshots.js';

const USERS = { admin: 'admin-secret', viewer: 'viewer-secret' };
const LAYER = 3 * 1024 * 1024;

describe('the console in chromium, end to end (Distribution upstream, htpasswd users)', () => {
  let registry: Distribution;
  let htpasswd: { file: string; remove(): void };
  let mirror: MirrorProcess;
  let browser: Browser;
  let image: SeededImage;
  let work: string;
  /** The admin's desktop page; its cookies go to the phone page too. */
  let admin: Page;
  let adminPhone: Page;
  const found = { repository: '', manifest: '', evict: '', pullLine: '' };
  const disk = { before: 0, after: 0 };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'console-e2e-'));
    registry = await startDistribution({ tokenAuth: true });
    image = await seedImage(registry, 'library/alpine', '3.19', { layers: [{ size: LAYER, seed: 'console-e2e' }] });
    htpasswd = makeHtpasswd(USERS);
    mirror = await startMirror({
      upstreamUrl: registry.url,
      env: { MIRROR_AUTH_HTPASSWD: htpasswd.file, MIRROR_AUTH_ADMINS: 'admin', MIRROR_AUTH_MIRROR_PULL: 'authenticated' },
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await mirror?.destroy();
    await registry?.stop();
    htpasswd?.remove();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const ui = (path: string) => `${mirror.url}${path}`;
  const pathOf = (href: string | null) => { const u = new URL(href ?? '', mirror.url); return u.pathname + u.search; };
  const blobFiles = () => readdirSync(join(mirror.dataDir, 'blobs'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;

  /** The desktop page checked (axe, CSP, screenshot), then the same URL on the phone. */
  const checkBoth = async (page: Page, phone: Page | undefined, name: string) => {
    await checkPage(page, name);
    if (!phone) return;
    await phone.goto(page.url());
    await checkPage(phone, name);
  };

  const diskUsed = (page: Page) => page.evaluate(() => {
    const dt = [...document.querySelectorAll('dl.figures dt')].find((d) => d.textContent?.trim() === 'Disk used');
    const title = dt?.nextElementSibling?.querySelector('span[title]')?.getAttribute('title') ?? '';
    return /^[\d,]+ bytes$/.test(title) ? Number(title.replace(/\D/g, '')) : Number.NaN;
  });

  const signIn = async (page: Page, user: keyof typeof USERS) => {
    await page.goto(ui('/ui/sign-in'));
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password').fill(USERS[user]);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => !u.pathname.startsWith('/ui/sign-in'));
  };

  test('an anonymous visitor (pulls reserved to users) sees the sign-in page and nothing else', async () => {
    for (const path of ['/ui/', '/ui/repositories', '/ui/housekeeping']) {
      const res = await fetch(ui(path), { redirect: 'manual' });
      expect(res.status, path).toBe(303);
      expect(res.headers.get('location'), path).toMatch(/^\/ui\/sign-in\?next=/);
    }
    const page = await openPage(browser, 'desktop');
    await page.goto(ui('/ui/repositories'));
    expect(new URL(page.url()).pathname).toBe('/ui/sign-in');
    await expect(page.getByLabel('User name').count()).resolves.toBe(1);
    await checkBoth(page, await openPage(browser, 'phone'), 'e2e-sign-in');
  });

  test('the admin signs in and reads "Disk used"; after a skopeo pull through the mirror it has grown', async () => {
    admin = await openPage(browser, 'desktop', { permissions: ['clipboard-read', 'clipboard-write'] });
    await signIn(admin, 'admin');
    await admin.goto(ui('/ui/'));
    disk.before = await diskUsed(admin);
    expect(disk.before).toBeGreaterThanOrEqual(0);
    const state: BrowserContextOptions['storageState'] = await admin.context().storageState();
    adminPhone = await openPage(browser, 'phone', { storageState: state });

    const copied = await skopeoCopy(`docker://${mirror.host}/library/alpine:3.19`, `dir:${join(work, 'pulled')}`, {
      extraArgs: ['--src-creds', `admin:${USERS.admin}`],
    });
    expect(copied.digest).toBe(image.digest);

    await admin.reload();
    disk.after = await diskUsed(admin);
    expect(disk.after).toBeGreaterThanOrEqual(disk.before + LAYER);
    await checkBoth(admin, adminPhone, 'e2e-overview');
    await docsScreenshot(admin, 'overview');
    await docsScreenshot(adminPhone, 'overview-phone');
  });

  test('Repositories: search finds it, its page lists the tag, the manifest page gives a pull line that Copy copies and skopeo pulls', async () => {
    await admin.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Repositories' }).click();
    await checkBoth(admin, adminPhone, 'e2e-repositories');
    await admin.getByLabel('Search').fill('alpine');
    await admin.getByRole('button', { name: 'Search' }).click();
    await admin.waitForURL(/[?&]q=alpine/);
    const link = admin.locator('main table').getByRole('link', { name: /library\/alpine$/ });
    await expect(link.count()).resolves.toBe(1);
    const name = (await link.textContent())!.trim();
    await link.click();
    await admin.waitForLoadState('load');
    found.repository = pathOf(admin.url());
    expect((await admin.locator('h1').textContent())?.trim()).toBe(name);
    await checkBoth(admin, adminPhone, 'e2e-repository');
    await docsScreenshot(admin, 'repository');

    await admin.locator('main table').getByRole('link', { name: '3.19', exact: true }).click();
    await admin.waitForLoadState('load');
    found.manifest = pathOf(admin.url());
    expect((await admin.locator('h1').textContent())?.trim()).toBe(`${name}:3.19`);
    await docsScreenshot(admin, 'manifest');
    const pullLine = await admin.locator('#pull-docker').inputValue();
    // `<host>/<name>:<tag>`: the mirror's host, the name as a client writes it (docker.io's
    // library/ images keep their path; the upstream's host may be left out).
    const m = /^(.+?)\/(.+):3\.19$/.exec(pullLine.replace(/^docker pull /, ''));
    expect(m?.[1]).toBe(mirror.host);
    expect(name.endsWith(m?.[2] ?? '\0')).toBe(true);
    found.pullLine = `${m![1]}/${m![2]}:3.19`;
    await admin.locator('button[data-copy="pull-docker"]').click();
    // The clipboard write is asynchronous: the button says so once it is done.
    await expect.poll(() => admin.locator('button[data-copy="pull-docker"]').textContent()).toBe('Copied');
    expect(await admin.evaluate(() => navigator.clipboard.readText())).toBe(pullLine);
    // The line works: a client pulling exactly it gets the image.
    expect(await skopeoInspectDigest(`docker://${found.pullLine}`, { extraArgs: ['--creds', `admin:${USERS.admin}`] })).toBe(image.digest);
    expect(await admin.locator('pre.raw').textContent()).toContain(image.layers[0]!.digest);
    found.evict = pathOf(await admin.getByRole('link', { name: 'Evict this image' }).getAttribute('href'));
    await checkBoth(admin, adminPhone, 'e2e-manifest');
  });

  test('the viewer sees no admin part, and the server refuses the admin actions to plain HTTP too', async () => {
    expect(found.manifest, 'the manifest page was found').not.toBe('');
    const page = await openPage(browser, 'desktop');
    await signIn(page, 'viewer');
    await page.goto(ui(found.manifest));
    expect(page.url()).toBe(ui(found.manifest));
    await expect(page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Housekeeping' }).count()).resolves.toBe(0);
    await expect(page.getByRole('link', { name: 'Evict this image' }).count()).resolves.toBe(0);
    await checkBoth(page, undefined, 'e2e-viewer-manifest');
    const denied = await page.goto(ui('/ui/housekeeping'));
    expect(denied?.status()).toBe(403);
    await checkBoth(page, undefined, 'e2e-viewer-housekeeping-403');
    expect(found.evict, 'the evict link was found').not.toBe('');
    const confirm = await page.goto(ui(found.evict));
    expect(confirm?.status()).toBe(403);

    // Plain HTTP, as a script bypassing the pages would: signed in, with a valid CSRF token.
    const files = blobFiles();
    const viewer = consoleClient(mirror.url);
    expect((await viewer.signIn('viewer', USERS.viewer)).status).toBe(303);
    await viewer.get('/ui/');
    expect(viewer.csrf()).toBeDefined();
    // The form posts to its own URL (which names the image); the body carries the token.
    const byViewer = await viewer.post(found.evict, {});
    expect(byViewer.status).toBe(403);
    expect(byViewer.body).not.toMatch(/CSRF/); // refused for want of the right, not of the token

    // The admin's own session without the form's CSRF token, or with another session's: refused as well.
    const adminHttp = consoleClient(mirror.url);
    expect((await adminHttp.signIn('admin', USERS.admin)).status).toBe(303);
    await adminHttp.get('/ui/');
    const noToken = await adminHttp.post(found.evict, {}, { csrf: false });
    expect(noToken.status).toBe(403);
    expect(noToken.body).toMatch(/CSRF/);
    expect((await adminHttp.post(found.evict, { csrf: viewer.csrf()! })).status).toBe(403);
    expect(blobFiles()).toBe(files);
    await admin.goto(ui('/ui/'));
    expect(await diskUsed(admin)).toBe(disk.after);
  });

  test('Evict: the confirmation lists what goes, Evict removes it, the result says so, and "Disk used" drops', async () => {
    expect(found.manifest, 'the manifest page was found').not.toBe('');
    const files = blobFiles();
    await admin.goto(ui(found.manifest));
    await admin.getByRole('link', { name: 'Evict this image' }).click();
    await admin.waitForLoadState('load');
    expect((await admin.locator('h1').textContent())?.trim()).toMatch(/^Evict .*alpine.*\?$/);
    await checkBoth(admin, adminPhone, 'e2e-evict-confirm');
    await admin.locator('main form').getByRole('button', { name: 'Evict' }).click();
    await admin.waitForLoadState('load');
    const notice = admin.locator('p.notice.ok[role="status"]');
    await expect(notice.textContent()).resolves.toMatch(/Evicted .*freed/);
    expect(await admin.locator('main a').evaluateAll((as) => as.map((a) => a.getAttribute('href')))).toContain(found.repository);
    await checkPage(admin, 'e2e-evict-result');

    await admin.goto(ui('/ui/'));
    const now = await diskUsed(admin);
    expect(now).toBeLessThanOrEqual(disk.after - LAYER);
    expect(blobFiles()).toBeLessThan(files);
  });
});
