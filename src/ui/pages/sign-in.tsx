import { deleteCookie, setCookie } from 'hono/cookie';
import type { Context } from 'hono';
import { isOciError } from '../../oci/errors.js';
import { CsrfField, Notice } from '../components.js';
import type { ConsoleEnv } from '../console-env.js';
import type { ConsoleContext, ConsoleRoutes } from '../context.js';
import { formStep } from '../forms.js';
import { Layout } from '../layout.js';
import { CSRF_COOKIE, SESSION_COOKIE, consoleAuthRequest, secureOrigin } from '../viewer.js';

/** How long a console session lasts; signing in again starts a new one. */
export const SESSION_TTL_MS = 8 * 3_600_000;

/** Where to go after signing in: a console path only (no other host, no scheme-relative URL). */
export function safeNext(next: string | undefined): string {
  return next !== undefined && /^\/ui\/[^\\]*$/.test(next) && !next.startsWith('/ui//') && next.length < 2048 ? next : '/ui/';
}

function SignInPage(p: { c: Context<ConsoleEnv>; ctx: ConsoleContext; next: string; error?: string; user?: string }) {
  const { viewer } = p.c.var;
  return (
    <Layout title="Sign in" viewer={viewer} assets={p.ctx.assets} section="sign-in">
      {p.error ? <Notice kind="error">{p.error}</Notice> : null}
      {p.ctx.guard.canSignIn ? (
        <form method="post" action="/ui/sign-in" class="card narrow">
          <CsrfField token={viewer.csrf} />
          <input type="hidden" name="next" value={p.next} />
          <label for="username">User name</label>
          <input id="username" name="username" autocomplete="username" required value={p.user ?? ''} autofocus />
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autocomplete="current-password" required />
          <button type="submit">Sign in</button>
          <p class="hint">The mirror’s own users (auth.htpasswd), as for <code>docker login</code>.</p>
        </form>
      ) : (
        <Notice kind="warn">No users are configured (auth.htpasswd), so nobody can sign in. Callers on this machine see everything.</Notice>
      )}
    </Layout>
  );
}

/** GET and POST /ui/sign-in, POST /ui/sign-out. */
export const signInRoutes: ConsoleRoutes = (ui, ctx) => {
  ui.get('/ui/sign-in', (c) => c.html(<SignInPage c={c} ctx={ctx} next={safeNext(c.req.query('next'))} />));

  ui.post('/ui/sign-in', formStep(ctx.sessions), async (c) => {
    const form = c.var.form;
    const next = safeNext(form.next);
    const user = (form.username ?? '').slice(0, 256);
    const password = (form.password ?? '').slice(0, 1024);
    const render = (status: number, error: string) => c.html(<SignInPage c={c} ctx={ctx} next={next} user={user} error={error} />, status as 401);
    if (!ctx.guard.canSignIn || user === '' || user.includes(':')) return render(401, 'Wrong user name or password.');
    let who: string | undefined;
    try {
      // The same check as `docker login`: the guard's, with its failure limits.
      const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      who = await ctx.guard.identify({ ...consoleAuthRequest(c, ctx), authorization });
    } catch (err) {
      if (isOciError(err) && err.code === 'TOOMANYREQUESTS') {
        for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
        return render(429, 'Too many failed sign-ins: wait a little and try again.');
      }
      throw err;
    }
    if (who === undefined) return render(401, 'Wrong user name or password.');
    const { cookieValue } = ctx.sessions.issue(who);
    const secure = secureOrigin(c.var.viewer.origin);
    setCookie(c, SESSION_COOKIE, cookieValue, { path: '/ui', httpOnly: true, sameSite: 'Lax', secure, maxAge: SESSION_TTL_MS / 1000 });
    deleteCookie(c, CSRF_COOKIE, { path: '/ui', secure });
    ctx.log.info('console sign-in', { user: who });
    return c.redirect(next, 303);
  });

  ui.post('/ui/sign-out', formStep(ctx.sessions), (c) => {
    deleteCookie(c, SESSION_COOKIE, { path: '/ui', secure: secureOrigin(c.var.viewer.origin) });
    return c.redirect('/ui/', 303);
  });
};
