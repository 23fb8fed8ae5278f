/**
 * A browser's side of the console over plain HTTP (for tests that bypass the pages):
 * cookies kept per client, the CSRF token read from the last page, forms posted as
 * urlencoded with the token, no redirect followed (tests look at each answer).
 */
import { request } from 'undici';

export interface ConsoleResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface ConsoleClient {
  get(path: string, headers?: Record<string, string>): Promise<ConsoleResponse>;
  /** POSTs `fields` plus the CSRF token of the last page fetched (unless `fields.csrf` is given, or `csrf: false`). */
  post(path: string, fields: Record<string, string>, options?: { csrf?: boolean; headers?: Record<string, string> }): Promise<ConsoleResponse>;
  /** Signs in through the form; returns the POST's answer (303 on success). */
  signIn(user: string, password: string): Promise<ConsoleResponse>;
  cookies: Map<string, string>;
  /** The CSRF token of the last page fetched. */
  csrf(): string | undefined;
}

/** The value of the form field `csrf` in a page. */
export function csrfOf(html: string): string | undefined {
  return /name="csrf" value="([^"]+)"/.exec(html)?.[1];
}

export function consoleClient(base: string): ConsoleClient {
  const cookies = new Map<string, string>();
  let lastCsrf: string | undefined;
  const cookieHeader = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const keep = (setCookie: string | string[] | undefined) => {
    for (const line of [setCookie ?? []].flat()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /max-age=0/i.test(line)) cookies.delete(name);
      else cookies.set(name, value);
    }
  };
  const send = async (method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: string): Promise<ConsoleResponse> => {
    const res = await request(base + path, {
      method, body,
      headers: { ...(cookies.size ? { cookie: cookieHeader() } : {}), ...headers },
    });
    const text = await res.body.text();
    keep(res.headers['set-cookie']);
    lastCsrf = csrfOf(text) ?? lastCsrf;
    return { status: res.statusCode, headers: res.headers, body: text };
  };
  const client: ConsoleClient = {
    cookies,
    csrf: () => lastCsrf,
    get: (path, headers = {}) => send('GET', path, headers),
    post(path, fields, options = {}) {
      const all = { ...(options.csrf === false || lastCsrf === undefined ? {} : { csrf: lastCsrf }), ...fields };
      return send('POST', path, { 'content-type': 'application/x-www-form-urlencoded', ...options.headers }, new URLSearchParams(all).toString());
    },
    async signIn(user, password) {
      await client.get('/ui/sign-in');
      return client.post('/ui/sign-in', { username: user, password });
    },
  };
  return client;
}

/** The `rm_session=...` cookie pair of a user signed in through the form; throws unless the sign-in succeeds. */
export async function sessionCookie(base: string, user: string, password: string): Promise<string> {
  const browser = consoleClient(base);
  const res = await browser.signIn(user, password);
  const session = browser.cookies.get('rm_session');
  if (res.status !== 303 || session === undefined) throw new Error(`sign-in of ${user}: ${res.status}`);
  return `rm_session=${session}`;
}
