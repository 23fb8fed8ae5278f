/**
 * The console's pages in a real browser (Debian's chromium), the mirror in-process with a
 * fake upstream and no users (so this machine's browser is an admin): every page passes
 * axe (WCAG 2 A/AA) with no CSP violation at desktop and phone width, is reachable by
 * keyboard, follows the system's dark setting, and never scrolls sideways on a phone.
 */
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { urls } from '../../src/ui/urls.js';
import { checkPage, launchBrowser, openPage, pageProblems, VIEWPORTS, type ViewportName } from '../helpers/browser.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';
import { createOciClient } from '../helpers/oci-client.js';

describe('console pages in chromium', () => {
  let up: FakeUpstream;
  let mirror: MirrorApp;
  let browser: Browser;
  /** Path of every page looked at, by name (found by following the pages' own links). */
  const pages = new Map<string, string>();

  beforeAll(async () => {
    up = await startFakeUpstream();
    const image = up.addImage('library/alpine', '3.20', { layers: [randomBytes(40_000), randomBytes(9_000)] });
    // A local namespace where this machine's anonymous admin may push and delete (no users configured).
    const rules = [{ repository: 'team/*', pull: ['anonymous'], push: ['anonymous'], delete: ['anonymous'] }];
    mirror = await startMirrorApp(up.url, { MIRROR_LOCAL_NAMESPACES: 'team/*', MIRROR_AUTH_RULES: JSON.stringify(rules) });
    await createOciClient(mirror.url).pushImage('team/app', 'v1', { layers: [randomBytes(20_000)] });
    // Pull it through the mirror, as a client would: manifest, config, layers.
    const accept = { accept: image.mediaType };
    expect((await fetch(`${mirror.url}/v2/library/alpine/manifests/3.20`, { headers: accept })).status).toBe(200);
    for (const digest of [image.config, ...image.layers]) {
      const res = await fetch(`${mirror.url}/v2/library/alpine/blobs/${digest}`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    browser = await launchBrowser();
    const page = await openPage(browser, 'desktop');
    const path = (href: string | null) => new URL(href ?? '', mirror.url).pathname + new URL(href ?? '', mirror.url).search;
    pages.set('overview', '/ui/');
    pages.set('sign-in', '/ui/sign-in');
    pages.set('repositories', '/ui/repositories');
    pages.set('housekeeping', '/ui/housekeeping');
    pages.set('not-found', '/ui/no-such-page');
    pages.set('prune-preview', `${urls.prune}?max_size=1KiB&older_than=`);
    pages.set('warm-confirm', `${urls.warm}?images=${encodeURIComponent('docker.io/library/alpine:3.20')}&platforms=`);
    await page.goto(`${mirror.url}/ui/repositories`);
    const repository = path(await page.getByRole('link', { name: /library\/alpine$/ }).first().getAttribute('href'));
    pages.set('repository', repository);
    await page.goto(`${mirror.url}${repository}`);
    const manifest = path(await page.getByRole('link', { name: '3.20', exact: true }).first().getAttribute('href'));
    pages.set('manifest', manifest);
    await page.goto(`${mirror.url}${manifest}`);
    pages.set('evict', path(await page.getByRole('link', { name: 'Evict this image' }).getAttribute('href')));
    // The local repository: its page, the tag's Delete link, the manifest page's "Delete this manifest".
    await page.goto(`${mirror.url}/ui/repositories?q=team`);
    const local = path(await page.getByRole('link', { name: 'team/app', exact: true }).getAttribute('href'));
    pages.set('local-repository', local);
    await page.goto(`${mirror.url}${local}`);
    pages.set('delete-tag', path(await page.locator('main table').getByRole('link', { name: 'Delete' }).first().getAttribute('href')));
    await page.goto(`${mirror.url}${path(await page.getByRole('link', { name: 'v1', exact: true }).first().getAttribute('href'))}`);
    pages.set('delete-manifest', path(await page.getByRole('link', { name: 'Delete this manifest' }).getAttribute('href')));
    await page.context().close();
  });

  afterAll(async () => {
    await browser?.close();
    await mirror?.close();
    await up?.close();
  });

  test('the recorder these checks rely on sees CSP violations: an inline script and a style attribute are reported', async () => {
    const page = await openPage(browser, 'desktop');
    await visit(page, 'overview');
    expect(pageProblems(page)).toEqual([]);
    await page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'document.title = "ran"';
      document.body.append(script);
      const div = document.createElement('div');
      div.setAttribute('style', 'color: red');
      document.body.append(div);
    });
    await expect.poll(() => pageProblems(page).filter((p) => p.startsWith('CSP:')).length).toBe(2);
    expect(await page.title()).not.toBe('ran');
    await page.context().close();
  });

  const visit = async (page: Page, name: string): Promise<number> => {
    const res = await page.goto(`${mirror.url}${pages.get(name)!}`);
    return res?.status() ?? 0;
  };

  for (const viewport of ['desktop', 'phone'] as ViewportName[]) {
    test(`${viewport}: every page passes axe (WCAG 2 A/AA) with no CSP violation or script error, and never scrolls sideways`, async () => {
      const page = await openPage(browser, viewport);
      const wide: string[] = [];
      for (const name of pages.keys()) {
        expect(await visit(page, name), name).toBe(name === 'not-found' ? 404 : 200);
        await checkPage(page, `pages-${name}`);
        // Against the viewport's own width: a mobile browser widens innerWidth to fit a page that overflows.
        const inner = VIEWPORTS[viewport].viewport.width;
        const scroll = await page.evaluate(() => document.scrollingElement!.scrollWidth);
        if (scroll > inner) wide.push(`${name}: ${scroll}px wide in a ${inner}px window`);
      }
      expect(wide).toEqual([]);
      await page.context().close();
    });
  }

  test('keyboard: Tab reaches the skip link first, then the navigation; Enter on the skip link moves focus to main', async () => {
    const page = await openPage(browser, 'desktop');
    await visit(page, 'repositories');
    const focused = () => page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      return { text: el?.textContent?.trim() ?? '', id: el?.id ?? '', tag: el?.tagName ?? '', inNav: !!el?.closest('nav') };
    });
    await page.keyboard.press('Tab');
    expect(await focused()).toMatchObject({ tag: 'A', text: 'Skip to content' });
    // The focused skip link is on screen (it hides only while unfocused).
    const box = await page.locator('a.skip').boundingBox();
    expect(box && box.y >= 0 && box.x >= 0 && box.width > 0).toBe(true);
    const navTexts: string[] = [];
    for (let i = 0; i < 6 && navTexts.length < 3; i++) {
      await page.keyboard.press('Tab');
      const f = await focused();
      if (f.inNav) navTexts.push(f.text);
    }
    expect(navTexts).toEqual(['Overview', 'Repositories', 'Housekeeping']);

    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    expect((await focused()).text).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect((await focused()).id).toBe('main');
    // The next Tab continues inside main, not back in the header.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => !!document.activeElement?.closest('main'))).toBe(true);
    await page.context().close();
  });

  test('dark mode follows the system setting: body background and text colours differ from light mode on every page', async () => {
    const light = await openPage(browser, 'desktop', { colorScheme: 'light' });
    const dark = await openPage(browser, 'desktop', { colorScheme: 'dark' });
    const colours = async (page: Page, name: string) => {
      await visit(page, name);
      // The page's background as painted: the body's, or the root's when the body has none.
      return page.evaluate(() => {
        const paint = [document.body, document.documentElement].map((e) => getComputedStyle(e).backgroundColor);
        return { background: paint.find((b) => b !== 'rgba(0, 0, 0, 0)') ?? 'none', color: getComputedStyle(document.body).color };
      });
    };
    for (const name of pages.keys()) {
      const l = await colours(light, name);
      const d = await colours(dark, name);
      expect(l.background, name).not.toBe('none');
      expect(d.background, name).not.toBe(l.background);
      expect(d.color, name).not.toBe(l.color);
    }
    // axe again in dark mode: the dark palette keeps its contrast.
    await visit(dark, 'repository');
    await checkPage(dark, 'pages-dark-repository');
    await light.context().close();
    await dark.context().close();
  });

  // Last: it changes what the mirror holds.
  test('housekeeping by click: a warm-up starts and its progress page polls (htmx) with no CSP violation; prune previews, then prunes', async () => {
    const page = await openPage(browser, 'desktop');
    await visit(page, 'warm-confirm');
    await page.getByRole('button', { name: 'Start warm-up' }).click();
    await page.waitForURL(/\/ui\/housekeeping\/warm\/[^/]+$/);
    // Long enough for htmx to poll the progress fragment at least once (every 2 s while running).
    await page.waitForTimeout(2_500);
    await checkPage(page, 'pages-warm-progress');

    await visit(page, 'prune-preview');
    await page.locator('main form').getByRole('button', { name: 'Prune' }).click();
    await page.waitForLoadState('load');
    await expect(page.locator('p.notice.ok[role="status"]').textContent()).resolves.toMatch(/\S/);
    await checkPage(page, 'pages-prune-result');
    await page.context().close();
  });
});
