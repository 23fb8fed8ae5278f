/**
 * The hostile corpus for the web console (issue 12): generated requests to every /ui/ route
 * with bad names, references, digests, query values, cookies, methods and form bodies —
 * some carrying a valid CSRF token so that they reach the actions' handlers (the caller is
 * on loopback and no admin can log in, so it is the admin: the deepest paths are open).
 * Whatever a request holds:
 *   - no 5xx; every console answer carries the CSP and nosniff; an error is an HTML page;
 *   - no body carries a stack frame or the upstream's address;
 *   - nothing reaches the unexpected-error log, and the server still answers afterwards.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BAD_ESCAPES } from './corpus.js';
import { startHostileServer, type HostileServer } from './hostile-server.js';
import { rawRequest, type RawRequest } from './raw-http.js';

const NUM_RUNS = 600;
const HEX64 = 'c'.repeat(64);

let s: HostileServer;
let token = '';
let csrfCookie = '';
let upstreamHost = '';

beforeAll(async () => {
  s = await startHostileServer();
  upstreamHost = new URL(s.up.url).host;
  s.up.addImage('library/cached', 'latest', { layers: [Buffer.from('cached layer')] });
  expect((await rawRequest(s.port, { method: 'GET', target: '/v2/library/cached/manifests/latest' })).status).toBe(200);
  const signIn = await rawRequest(s.port, { method: 'GET', target: '/ui/sign-in' });
  token = /name="csrf" value="([^"]+)"/.exec(signIn.body.toString())![1]!;
  csrfCookie = String(signIn.headers['set-cookie']).split(';')[0]!;
});
afterAll(async () => {
  await s?.close();
});

const NAMES = [
  'docker.io/library/cached', 'team/app', 'library/cached', 'docker.io/library/none', 'ghcr.io/x/y', '..', '../../etc/passwd',
  'a'.repeat(300), 'UPPER/Case', 'a//b', '%2e%2e', 'a%00b', '<script>', 'docker.io/library/cached/-/x', '-', '',
];
const REFS = ['latest', `sha256:${HEX64}`, 'sha256:short', '..', '%00', 't'.repeat(200), '<b>', 'a:b', '', ...BAD_ESCAPES];
const JUNK = ['', '0', '-1', '1e309', 'NaN', '99999999999999999999', 'a'.repeat(3000), '<script>alert(1)</script>', '../..', ...BAD_ESCAPES];
const KEYS = ['q', 'after', 'kind', 'upstream', 'range', 'repository', 'tag', 'digest', 'reference', 'max_size', 'older_than', 'next', 'page', 'images', 'platforms'];

const nameArb = fc.oneof(fc.constantFrom(...NAMES), fc.stringMatching(/^[a-z0-9./_%-]{0,40}$/));
const refArb = fc.constantFrom(...REFS);
const valueArb = fc.oneof(fc.constantFrom(...JUNK, 'docker.io/library/cached', 'latest', 'mirror', 'local', 'hour', 'day', 'week', '10GiB', '30d'), fc.string({ maxLength: 30 }));

const pathArb = fc.oneof(
  fc.constantFrom('/ui/', '/ui', '/', '/ui/sign-in', '/ui/sign-out', '/ui/repositories', '/ui/housekeeping', '/ui/housekeeping/prune',
    '/ui/housekeeping/warm', '/ui/overview/series', '/ui/actions/delete-tag', '/ui/actions/delete-manifest', '/ui/actions/evict',
    '/ui/assets/console.css', '/ui/assets/../../package.json', '/ui/%2e%2e/%2e%2e/', '/ui//', '/ui/nothing'),
  nameArb.map((n) => `/ui/repositories/${n}`),
  fc.tuple(nameArb, refArb).map(([n, r]) => `/ui/repositories/${n}/-/manifests/${r}`),
  fc.tuple(nameArb, fc.string({ maxLength: 20 })).map(([n, r]) => `/ui/repositories/${n}/-/${encodeURIComponent(r)}`),
  fc.constantFrom(...BAD_ESCAPES).map((e) => `/ui/repositories/${e}`),
);

const queryArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant('') },
  { weight: 5, arbitrary: fc.array(fc.tuple(fc.constantFrom(...KEYS), valueArb), { maxLength: 4 }).map((kv) => `?${kv.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`) },
  { weight: 1, arbitrary: fc.constantFrom(...BAD_ESCAPES).map((e) => `?q=${e}&after=${e}`) },
);

const cookieArb = fc.oneof(
  fc.constant(undefined),
  fc.constant('csrf'),
  fc.constantFrom('rm_session=x.y', `rm_session=${'a'.repeat(3000)}`, 'rm_session=.', 'rm_csrf=short', 'rm_session=%zz; rm_csrf=%00', `rm_csrf=${'A'.repeat(24)}`),
);

const formArb = fc.oneof(
  fc.constant(undefined),
  fc.array(fc.tuple(fc.constantFrom(...KEYS, 'csrf', 'username', 'password'), valueArb), { maxLength: 5 })
    .map((kv) => kv.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')),
  fc.constantFrom('%', 'a=%zz', '&&&=', 'csrf[]=1&csrf[]=2', `images=${'x%0A'.repeat(2000)}`),
);

function requestArb(): fc.Arbitrary<RawRequest> {
  return fc.record({
    method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'POST', 'PUT', 'DELETE'),
    path: pathArb, query: queryArb, cookie: cookieArb, form: formArb, withToken: fc.boolean(),
    type: fc.constantFrom('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json', 'text/plain'),
  }).map(({ method, path, query, cookie, form, withToken, type }) => {
    const headers: Array<[string, string]> = [];
    if (cookie === 'csrf') headers.push(['Cookie', csrfCookie]);
    else if (cookie !== undefined) headers.push(['Cookie', cookie]);
    let body: Buffer | undefined;
    if (method === 'POST' || method === 'PUT') {
      const fields = [form ?? '', withToken ? `csrf=${encodeURIComponent(token)}` : ''].filter(Boolean).join('&');
      body = Buffer.from(fields);
      headers.push(['Content-Type', type]);
    }
    return { method, target: path + query, headers, body };
  });
}

async function sendAndCheck(req: RawRequest): Promise<void> {
  const what = `${req.method} ${req.target.slice(0, 160)}`;
  const res = await rawRequest(s.port, req);
  expect(res.status < 500, `${what} answered ${res.status}: ${res.body.toString().slice(0, 300)}`).toBe(true);
  expect(res.headers['x-content-type-options'], `${what}: nosniff`).toBe('nosniff');
  // The path the server routes (dot segments resolved, as the URL parser does).
  const target = new URL(req.target, 'http://mirror').pathname;
  if (target.startsWith('/ui/')) {
    expect(String(res.headers['content-security-policy']), `${what}: CSP`).toContain("frame-ancestors 'none'");
    if (res.status >= 400 && req.method !== 'HEAD' && res.body.length > 0 && !target.startsWith('/ui/assets/')) {
      expect(res.headers['content-type'], `${what}: error page`).toMatch(/^(text\/html|application\/json)/);
    }
  }
  const text = res.body.toString('latin1');
  expect(text, `${what}: stack frame in body`).not.toMatch(/\n\s+at |\bat [\w.<>]+ \(|node:internal|\.tsx?:\d+|\.js:\d+/);
  expect(text, `${what}: the upstream's address in body`).not.toContain(upstreamHost);
}

describe('the hostile corpus through the console', () => {
  test(`${NUM_RUNS} generated requests (fast-check)`, async () => {
    await fc.assert(fc.asyncProperty(requestArb(), async (req) => {
      await sendAndCheck(req);
    }), { numRuns: NUM_RUNS, endOnFailure: true });
    expect((await rawRequest(s.port, { method: 'GET', target: '/healthz' })).status).toBe(200);
    expect((await rawRequest(s.port, { method: 'GET', target: '/ui/' })).status).toBe(200);
    const unexpected = s.lines().filter((l) => /unexpected error|outside the handlers|before the handlers/.test(String(l.msg)));
    expect(unexpected.map((l) => JSON.stringify(l).slice(0, 300))).toEqual([]);
  });
});
