import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import type { Assets } from './assets.js';
import { CsrfField } from './components.js';
import type { Viewer } from './console-env.js';

export type Section = 'overview' | 'repositories' | 'housekeeping' | 'sign-in';

export interface LayoutProps {
  title: string;
  viewer: Viewer;
  assets: Assets;
  section?: Section;
  /** Loads uPlot (the overview's charts). */
  charts?: boolean;
  children: Child;
}

/** htmx without eval, inline styles or script tags in swapped content (the CSP forbids them anyway). */
const HTMX_CONFIG = JSON.stringify({ includeIndicatorStyles: false, allowEval: false, allowScriptTags: false, selfRequestsOnly: true });

const NAV: Array<{ section: Section; href: string; label: string; admin?: boolean }> = [
  { section: 'overview', href: '/ui/', label: 'Overview' },
  { section: 'repositories', href: '/ui/repositories', label: 'Repositories' },
  { section: 'housekeeping', href: '/ui/housekeeping', label: 'Housekeeping', admin: true },
];

/** Every console page: skip link, header with navigation and who is signed in, main, scripts (deferred, same origin). */
export function Layout(p: LayoutProps) {
  const { viewer, assets } = p;
  return (
    <>
    {raw('<!DOCTYPE html>')}
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <meta name="htmx-config" content={HTMX_CONFIG} />
        <title>{`${p.title} · registry-mirror`}</title>
        <link rel="stylesheet" href={assets.url('console.css')} />
        {p.charts ? <link rel="stylesheet" href={assets.url('uplot.css')} /> : null}
        <script src={assets.url('htmx.js')} defer></script>
        {p.charts ? <script src={assets.url('uplot.js')} defer></script> : null}
        {p.charts ? <script src={assets.url('charts.js')} defer></script> : null}
        <script src={assets.url('console.js')} defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <a class="brand" href="/ui/">registry-mirror</a>
          <nav aria-label="Console">
            <ul>
              {NAV.filter((n) => !n.admin || viewer.admin).map((n) => (
                <li><a href={n.href} aria-current={p.section === n.section ? 'page' : undefined}>{n.label}</a></li>
              ))}
            </ul>
          </nav>
          <div class="who">
            {viewer.user !== undefined ? (
              <form method="post" action="/ui/sign-out">
                <CsrfField token={viewer.csrf} />
                <span>{viewer.user}{viewer.admin ? ' (admin)' : ''}</span>{' '}
                <button type="submit" class="link">Sign out</button>
              </form>
            ) : p.section === 'sign-in' ? null : (
              <span>{viewer.admin ? 'admin (this machine) · ' : ''}<a href="/ui/sign-in">Sign in</a></span>
            )}
          </div>
        </header>
        <main id="main" tabindex={-1}>
          <h1>{p.title}</h1>
          {p.children}
        </main>
      </body>
    </html>
    </>
  );
}
