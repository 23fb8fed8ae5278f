/**
 * A real browser for the console's suites: Debian's chromium (/usr/bin/chromium, installed
 * by .ci/run) driven by playwright-core, which downloads no browser of its own.
 *
 * ```ts
 * const browser = await launchBrowser();
 * afterAll(() => browser.close());
 * const page = await openPage(browser, 'phone');
 * await page.goto(`${mirror.url}/ui/`);
 * await checkPage(page, 'overview');   // axe, CSP and script errors, screenshot
 * ```
 *
 * Every page opened here records Content-Security-Policy violations and uncaught script
 * errors from its first document on; `checkPage` fails on any, which proves the console
 * needs no inline script or style (the CSP would block them, and the page would break).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';

/** Debian's build; playwright's own downloads are out of reach on our machines. */
export const CHROMIUM_BIN = '/usr/bin/chromium';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Where screenshots go (git-ignored): a person looks at them after a run. */
export const SCREENSHOT_DIR = join(ROOT, 'test-output', 'screenshots');

/** The two widths every page is looked at: a laptop and a phone (CSS pixels, scale 1 so PNGs stay small). */
export const VIEWPORTS = {
  desktop: { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 },
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true },
} as const satisfies Record<string, BrowserContextOptions>;
export type ViewportName = keyof typeof VIEWPORTS;

/** Chromium headless; no sandbox because the suites run as root in CI containers. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_BIN, args: ['--no-sandbox'] });
}

export interface OpenPageOptions {
  /** Cookies of a signed-in context (`await page.context().storageState()`). */
  storageState?: BrowserContextOptions['storageState'];
  colorScheme?: 'light' | 'dark';
  /** E.g. ['clipboard-read', 'clipboard-write'] for the Copy buttons. */
  permissions?: string[];
}

/** What went wrong in a page: CSP violations and uncaught errors, in order. */
const problems = new WeakMap<Page, string[]>();

/** A page in a context of its own (cookies, viewport), recording CSP violations and script errors. */
export async function openPage(browser: Browser, viewport: ViewportName, options: OpenPageOptions = {}): Promise<Page> {
  const context = await browser.newContext({
    ...VIEWPORTS[viewport],
    ...(options.storageState ? { storageState: options.storageState } : {}),
    colorScheme: options.colorScheme ?? 'light',
    ...(options.permissions ? { permissions: options.permissions } : {}),
  });
  const page = await context.newPage();
  // A missing label or link should fail a test in seconds, not after playwright's 30 s.
  page.setDefaultTimeout(10_000);
  const found: string[] = [];
  problems.set(page, found);
  // The binding and the init script come in through the DevTools protocol, which the
  // page's CSP does not govern: the listener runs before any of the page's own code.
  await page.exposeFunction('__reportCspViolation', (text: string) => { found.push(`CSP: ${text}`); });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const report = (window as unknown as { __reportCspViolation(t: string): void }).__reportCspViolation;
      report(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber} (${location.pathname})`);
    });
  });
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) found.push(`console: ${m.text()}`); });
  page.on('pageerror', (err) => { found.push(`script error: ${err.message}`); });
  return page;
}

/** The CSP violations and script errors a page has recorded so far. */
export function pageProblems(page: Page): string[] {
  return [...(problems.get(page) ?? [])];
}

/** The viewport name a page was opened with (by its width). */
export function viewportOf(page: Page): ViewportName {
  return page.viewportSize()?.width === VIEWPORTS.phone.viewport.width ? 'phone' : 'desktop';
}

/** `test-output/screenshots/<name>-<viewport>.png`, the whole page; returns the path. */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean; path?: string } = {}): Promise<string> {
  const path = options.path ?? join(SCREENSHOT_DIR, `${name}-${viewportOf(page)}.png`);
  mkdirSync(dirname(path), { recursive: true });
  await page.screenshot({ path, fullPage: options.fullPage ?? true, animations: 'disabled' });
  return path;
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation { id: string; impact: string | null; help: string; nodes: Array<{ target: string[]; html: string; summary: string }> }

/**
 * Runs axe-core (WCAG 2 A and AA rules) in the page and throws a readable list of the
 * violations, if any. axe's source goes in by `page.evaluate` (the DevTools protocol's
 * Runtime.evaluate), not by a `<script>` tag: the console's CSP rightly refuses inline
 * scripts, and a context with `bypassCSP` would also hide the very violations
 * `checkPage` looks for. Evaluating leaves the page's CSP in force for its own code.
 */
export async function checkAccessibility(page: Page): Promise<void> {
  const loaded = await page.evaluate(() => typeof (window as unknown as { axe?: unknown }).axe === 'object');
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    type Axe = { run(ctx: Document, o: object): Promise<{ violations: AxeViolation[] }> };
    const { axe } = window as unknown as { axe: Axe };
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] }, resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.map(String), html: n.html, summary: (n as { failureSummary?: string }).failureSummary ?? '' })),
    }));
  });
  if (violations.length === 0) return;
  const text = violations.map((v) => [
    `${v.id} (${v.impact ?? 'n/a'}): ${v.help}`,
    ...v.nodes.slice(0, 5).map((n) => `    ${n.target.join(' ')}: ${n.html.slice(0, 160)}\n      ${n.summary.replace(/\n/g, '\n      ')}`),
  ].join('\n')).join('\n');
  throw new Error(`axe found ${violations.length} accessibility violation(s) on ${page.url()}:\n${text}`);
}

/** Fails on CSP violations or script errors recorded in the page so far. */
export function expectNoPageProblems(page: Page): void {
  const found = pageProblems(page);
  if (found.length > 0) throw new Error(`${page.url()}:\n  ${found.join('\n  ')}`);
}

/** Everything every console page must pass: no CSP violation or script error, axe clean. The screenshot comes first, so a failing page can be looked at. */
export async function checkPage(page: Page, name: string): Promise<string> {
  await page.waitForLoadState('load');
  const path = await screenshot(page, name);
  expectNoPageProblems(page);
  await checkAccessibility(page);
  return path;
}
