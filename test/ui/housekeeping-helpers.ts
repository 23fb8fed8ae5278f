/**
 * Plain-HTTP console sessions for the housekeeping and action suites: sign in as a browser
 * would (GET the form for its CSRF cookie and token, POST it), then GET pages and POST
 * forms with the session cookie and the page's CSRF token, and read what a user sees.
 */
import { request } from 'undici';
import { expect } from 'vitest';

export interface Page {
  status: number;
  body: string;
  location: string;
  /** The text of the first h1 (tags stripped, entities of quotes and ampersands decoded). */
  h1: string;
  /** The text of the `<p class="notice ...">`, or ''. */
  notice: string;
}

export interface Session {
  /** The Cookie header this session sends. */
  cookie: string;
  /** The CSRF token of its forms. */
  csrf: string;
  get(path: string): Promise<Page>;
  /** POSTs a urlencoded form; `csrf` is added unless the fields name it (undefined: leave it out). */
  post(path: string, fields?: Record<string, string | undefined>, headers?: Record<string, string>): Promise<Page>;
}

export const text = (html: string) => html.replace(/<[^>]*>/g, '').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/\s+/g, ' ').trim();

async function fetchPage(url: string, init: { method?: string; headers?: Record<string, string>; body?: string }): Promise<Page & { setCookies: string[] }> {
  const res = await request(url, { method: (init.method ?? 'GET') as 'GET', headers: init.headers ?? {}, ...(init.body !== undefined ? { body: init.body } : {}) });
  const body = await res.body.text();
  const raw = res.headers['set-cookie'];
  const setCookies = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const h1 = /<h1[^>]*>([\s\S]*?)<\/h1>/.exec(body)?.[1] ?? '';
  const notice = /<p class="notice[^"]*"[^>]*>([\s\S]*?)<\/p>/.exec(body)?.[1] ?? '';
  return { status: res.statusCode, body, location: String(res.headers.location ?? ''), h1: text(h1), notice: text(notice), setCookies };
}

const csrfIn = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

function session(base: string, cookie: string, csrf: string): Session {
  return {
    cookie, csrf,
    get: (path) => fetchPage(`${base}${path}`, { headers: cookie ? { cookie } : {} }),
    post(path, fields = {}, headers = {}) {
      const all: Record<string, string | undefined> = { csrf, ...fields };
      const form = new URLSearchParams();
      for (const [k, v] of Object.entries(all)) if (v !== undefined) form.set(k, v);
      return fetchPage(`${base}${path}`, {
        method: 'POST', body: form.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}), ...headers },
      });
    },
  };
}

const cookiePair = (setCookie: string) => setCookie.split(';')[0]!;

/** Signs in with the mirror's htpasswd user; fails the test unless the sign-in succeeds. */
export async function signIn(base: string, user: string, password: string): Promise<Session> {
  const form = await fetchPage(`${base}/ui/sign-in`, {});
  const pre = form.setCookies.map(cookiePair).join('; ');
  const done = await session(base, pre, csrfIn(form.body)).post('/ui/sign-in', { username: user, password, next: '/ui/' });
  expect(done.status, `sign-in of ${user}`).toBe(303);
  const cookie = (done as Awaited<ReturnType<typeof fetchPage>>).setCookies.map(cookiePair).find((c) => c.startsWith('rm_session='));
  expect(cookie).toBeDefined();
  // Any signed-in page carries the session's token (the header's sign-out form).
  const page = await fetchPage(`${base}/ui/`, { headers: { cookie: cookie! } });
  return session(base, cookie!, csrfIn(page.body));
}

/** A visitor without a session (its pre-session CSRF cookie and token). */
export async function visitor(base: string): Promise<Session> {
  const form = await fetchPage(`${base}/ui/sign-in`, {});
  return session(base, form.setCookies.map(cookiePair).join('; '), csrfIn(form.body));
}
