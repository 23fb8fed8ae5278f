import { Hono } from 'hono';
import { funnelError } from '../http/errors.js';
import type { ConsoleEnv } from './console-env.js';
import type { ConsoleContext, ConsoleRoutes } from './context.js';
import { loadAssets } from './assets.js';
import { messagePage } from './pages/message.js';
import { overviewRoutes } from './pages/overview.js';
import { actionRoutes } from './pages/actions.js';
import { housekeepingRoutes } from './pages/housekeeping.js';
import { repositoriesRoutes } from './pages/repositories.js';
import { repositoryRoutes } from './pages/repository.js';
import { SESSION_TTL_MS, signInRoutes } from './pages/sign-in.js';
import { securityHeaders } from './security-headers.js';
import { createSessions } from './session.js';
import { viewerStep } from './viewer.js';

export type ConsoleDeps = Omit<ConsoleContext, 'assets' | 'sessions' | 'signal'>;

export interface Console {
  /** Every /ui/ route, with absolute paths (the app mounts them at /). */
  routes: Hono<ConsoleEnv>;
  /** Stops what the console started in the background (a warm-up): the app is stopping. */
  stop(): void;
}

/** The status that tells htmx to stop polling (its documented convention). */
const HTMX_STOP_POLLING = 286;

/** Each page's routes, in the order of the navigation. */
const PAGES: ConsoleRoutes[] = [signInRoutes, overviewRoutes, repositoriesRoutes, repositoryRoutes, actionRoutes, housekeepingRoutes];

/** Paths an anonymous visitor reaches when pulls need a user (auth.mirror_pull: authenticated). */
const OPEN_PATHS = new Set(['/ui/sign-in']);

/**
 * The web console, mounted at /ui/ by the app: server-rendered pages (Hono JSX) over the
 * same parts as the registry API, with the same auth decisions (AuthGuard: who is an
 * admin, who may pull what). Sessions are signed cookies (session.ts); every POST carries
 * a CSRF token (forms.ts); every response carries the security headers.
 */
export function createConsole(deps: ConsoleDeps): Console {
  const stopping = new AbortController();
  const ctx: ConsoleContext = {
    ...deps,
    signal: stopping.signal,
    assets: loadAssets(),
    sessions: createSessions({ key: deps.guard.keyFor('console-session'), ttlMs: SESSION_TTL_MS, now: deps.now }),
  };
  // Paths are absolute (the app mounts this at /): the overview's canonical URL is /ui/.
  const ui = new Hono<ConsoleEnv>();
  ui.use('/ui/*', securityHeaders());

  // Assets first: no session needed, cached for good (their URLs change with their bytes).
  ui.get('/ui/assets/:file', (c) => {
    const asset = ctx.assets.byFile(c.req.param('file'));
    if (!asset) return c.text('not found', 404);
    return c.body(new Uint8Array(asset.body), 200, { 'Content-Type': asset.type, 'Cache-Control': 'public, max-age=31536000, immutable' });
  });

  ui.use('/ui/*', viewerStep(ctx));
  ui.onError((err, c) => {
    const { oci, error } = funnelError(err, ctx.log, c.req.method, c.req.path);
    c.set('error', error);
    const text = oci.status >= 500 ? 'Something went wrong on the mirror; the log has the details.' : oci.message;
    for (const [k, v] of Object.entries(oci.headers)) c.header(k, v);
    // A live section's poll refused (the session expired, the run is gone): htmx stops
    // polling on 286 and shows this instead of asking every 2 s until the tab is closed.
    if (c.req.header('hx-request') === 'true' && oci.status < 500) {
      return c.html(<p class="notice warn" role="status">Live updates stopped: {text}</p>, HTMX_STOP_POLLING as 200);
    }
    return messagePage(c, ctx, { title: oci.status === 403 ? 'Not allowed' : 'Error', status: oci.status, text });
  });

  // With pulls reserved to users, anonymous visitors see the sign-in page and nothing else.
  ui.use('/ui/*', async (c, next) => {
    const { viewer } = c.var;
    const closed = ctx.config.auth.mirrorPull === 'authenticated' && ctx.guard.canSignIn && viewer.user === undefined && !viewer.admin;
    if (closed && !OPEN_PATHS.has(c.req.path)) {
      if (c.req.method !== 'GET' && c.req.method !== 'HEAD') return messagePage(c, ctx, { title: 'Sign in', status: 401, text: 'Sign in first.' });
      return c.redirect(`/ui/sign-in?next=${encodeURIComponent(c.req.path)}`, 303);
    }
    await next();
  });

  for (const routes of PAGES) routes(ui, ctx);
  ui.all('/ui/*', (c) => messagePage(c, ctx, { title: 'Not found', status: 404, text: 'There is no such page.' }));
  return { routes: ui, stop: () => stopping.abort() };
}
