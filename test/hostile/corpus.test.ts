/**
 * The hostile corpus (issue 7, "What to build"): the same hostile requests through every
 * route and both paths (a cached fresh tag exists, so the fast path is live), sent on a
 * real listening server. Whatever a request holds:
 *   - no 5xx but 502/503/504/507 (the upstream's or the disk's trouble, never ours);
 *   - every error is an OCI JSON body ({"errors":[{code,message}]}, application/json);
 *   - every response says nosniff; no body carries a stack frame, a file path or IP:port;
 *   - nothing reaches the unexpected-error log, and the server still answers afterwards.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { handList, hostileRequest, type CorpusContext } from './corpus.js';
import { ALICE, startHostileServer, type HostileServer } from './hostile-server.js';
import { rawRequest, type RawRequest, type RawResponse } from './raw-http.js';

/** Bounded so the suite stays well under half a minute on a shared 2-core machine. */
const NUM_RUNS = 1000;
const ALLOWED_5XX = new Set([502, 503, 504, 507]);

let s: HostileServer;
let ctx: CorpusContext;

beforeAll(async () => {
  s = await startHostileServer();
  const img = s.up.addImage('library/cached', 'latest', { layers: [Buffer.from('cached layer')] });
  const warm = await rawRequest(s.port, { method: 'GET', target: '/v2/library/cached/manifests/latest' });
  expect(warm.status).toBe(200);
  expect((await rawRequest(s.port, { method: 'GET', target: `/v2/library/cached/blobs/${img.layers[0]}` })).status).toBe(200);
  const post = await rawRequest(s.port, { method: 'POST', target: '/v2/team/app/blobs/uploads/', headers: [['Authorization', ALICE]] });
  expect(post.status).toBe(202);
  ctx = {
    cachedRepo: 'library/cached', knownDigest: img.layers[0]!, uploadPath: new URL(post.headers.location!, s.url).pathname,
    pusher: ALICE, localRepo: 'team/app',
  };
});
afterAll(async () => {
  await s?.close();
});

async function sendAndCheck(req: RawRequest): Promise<void> {
  const what = `${req.method} ${req.target.slice(0, 160)}`;
  let res: RawResponse;
  try {
    res = await rawRequest(s.port, req);
  } catch (err) {
    // Node closes a CONNECT it has no handler for without answering: not a crash.
    if (req.method === 'CONNECT') return;
    throw err;
  }
  expect(res.status < 500 || ALLOWED_5XX.has(res.status), `${what} answered ${res.status}: ${res.body.toString().slice(0, 300)}`).toBe(true);
  expect(res.headers['x-content-type-options'], `${what}: nosniff`).toBe('nosniff');
  if (res.status >= 400 && req.method !== 'HEAD') {
    expect(res.headers['content-type'], `${what}: error Content-Type`).toMatch(/^application\/json/);
    const body = JSON.parse(res.body.toString()) as { errors: Array<{ code: unknown; message: unknown }> };
    expect(body.errors.length, what).toBeGreaterThan(0);
    expect(typeof body.errors[0]!.code, what).toBe('string');
    expect(typeof body.errors[0]!.message, what).toBe('string');
  }
  if (res.body.length > 0) {
    expect(res.headers['content-type'], `${what}: Content-Type`).toMatch(/^(application\/(json|octet-stream|vnd\.[a-z0-9.+-]+)|text\/plain)(;.*)?$/);
  }
  const text = res.body.toString('latin1');
  expect(text, `${what}: stack frame in body`).not.toMatch(/\n\s+at |\bat [\w.<>]+ \(|node:internal|\.ts:\d+|\.js:\d+/);
  expect(text, `${what}: address in body`).not.toMatch(/\b\d{1,3}(?:\.\d{1,3}){3}:\d+/);
}

async function expectStillServing(): Promise<void> {
  const ping = await rawRequest(s.port, { method: 'GET', target: '/v2/', headers: [['Authorization', ALICE]] });
  expect(ping.status).toBe(200);
  expect((await rawRequest(s.port, { method: 'GET', target: '/healthz' })).status).toBe(200);
  const hit = await rawRequest(s.port, { method: 'GET', target: `/v2/${ctx.cachedRepo}/manifests/latest` });
  expect(hit.status).toBe(200);
  expect(hit.headers['x-cache']).toBe('HIT');
  const unexpected = s.lines().filter((l) => /unexpected error|outside the handlers|before the handlers/.test(String(l.msg)));
  expect(unexpected.map((l) => JSON.stringify(l).slice(0, 300))).toEqual([]);
}

describe('the hostile corpus through every route and both paths', () => {
  test('the hand list (issue 7 cases)', async () => {
    for (const req of handList(ctx)) await sendAndCheck(req);
    await expectStillServing();
  });

  test(`${NUM_RUNS} generated requests (fast-check)`, async () => {
    await fc.assert(fc.asyncProperty(hostileRequest(ctx), async (req) => {
      await sendAndCheck(req);
    }), { numRuns: NUM_RUNS, endOnFailure: true });
    await expectStillServing();
  });

  test.each([
    ['down', () => { s.up.faults.down = true; }],
    ['answering 503', () => { s.up.faults.status = 503; }],
    ['rate-limiting', () => { s.up.faults.status = 429; }],
  ])('with the upstream %s: the same properties hold (upstream errors are 502/504, OCI JSON, scrubbed)', async (_what, fault) => {
    fault();
    try {
      await fc.assert(fc.asyncProperty(hostileRequest(ctx), async (req) => {
        await sendAndCheck(req);
      }), { numRuns: NUM_RUNS / 5, endOnFailure: true });
      // The corpus did reach the failing upstream (uncached names, tags and blobs).
      expect(s.up.requests.length).toBeGreaterThan(0);
    } finally {
      s.up.reset();
    }
    await expectStillServing();
  });
});
