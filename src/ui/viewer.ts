import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { AuthGuard } from '../auth/auth-guard.js';
import type { TrustedProxies } from '../auth/forwarded.js';
import { authRequest } from '../http/v2-routes.js';
import type { ConsoleEnv } from './console-env.js';
import type { Sessions } from './session.js';

export const SESSION_COOKIE = 'rm_session';
/** The pre-session nonce the sign-in form's CSRF token is bound to. */
export const CSRF_COOKIE = 'rm_csrf';
const NONCE_SHAPE = /^[A-Za-z0-9_-]{24}$/;

export interface ViewerDeps {
  guard: AuthGuard;
  sessions: Sessions;
  tls: boolean;
  proxies: TrustedProxies;
}

/** Cookies are Secure when the browser came over https (directly, or through a trusted proxy that says so). */
export const secureOrigin = (origin: string) => origin.startsWith('https:');

/**
 * Decides who the viewer is, once per console request: the user of a valid session
 * cookie (nothing else: Basic or Bearer headers are the API's), whether they are an admin
 * (AuthGuard.isAdmin, the same decision as /admin/*), and the CSRF token of the page.
 */
export function viewerStep(d: ViewerDeps): MiddlewareHandler<ConsoleEnv> {
  return async (c, next) => {
    const req = consoleAuthRequest(c, d);
    const session = d.sessions.read(getCookie(c, SESSION_COOKIE));
    let nonce = session?.nonce;
    if (nonce === undefined) {
      const pre = getCookie(c, CSRF_COOKIE);
      nonce = pre !== undefined && NONCE_SHAPE.test(pre) ? pre : d.sessions.nonce();
      if (nonce !== pre) setCookie(c, CSRF_COOKIE, nonce, { path: '/ui', httpOnly: true, sameSite: 'Strict', secure: secureOrigin(req.origin) });
    }
    c.set('viewer', {
      user: session?.user,
      admin: d.guard.isAdmin(session?.user, req.loopback === true),
      csrf: d.sessions.csrfFor(nonce),
      origin: req.origin,
    });
    c.set('user', session?.user);
    await next();
  };
}

/** The caller as the auth guard sees it (client address, loopback, origin), from a console request. */
export function consoleAuthRequest(c: Context<ConsoleEnv>, d: { tls: boolean; proxies: TrustedProxies }) {
  return authRequest(c as unknown as Parameters<typeof authRequest>[0], d.tls, d.proxies);
}

/** The nonce a POST's CSRF token must belong to: the session's, else the pre-session cookie's. */
export function csrfNonce(c: Context<ConsoleEnv>, sessions: Sessions): string | undefined {
  return sessions.read(getCookie(c, SESSION_COOKIE))?.nonce ?? getCookie(c, CSRF_COOKIE);
}
