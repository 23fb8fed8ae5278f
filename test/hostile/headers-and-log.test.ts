/**
 * What every response carries and what every request leaves in the log (issue 7:
 * finding 5's response half, finding 12's last line of defence, and the access log from
 * "Also found by a new user"), through a real listener, fast path and full path alike.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALICE, startHostileServer, type HostileServer } from './hostile-server.js';
import { rawRequest, type RawRequest, type RawResponse } from './raw-http.js';

let s: HostileServer;
let layer: string;

beforeAll(async () => {
  s = await startHostileServer();
  const img = s.up.addImage('library/cached', 'latest', { layers: [Buffer.from('a layer')] });
  layer = img.layers[0]!;
});
afterAll(async () => {
  await s?.close();
});

const send = (method: string, target: string, extra: Partial<RawRequest> = {}) => rawRequest(s.port, { method, target, ...extra });

/** Safe for a browser to receive: JSON, an OCI/Docker media type, plain text, or bytes. */
const SAFE_TYPE = /^(application\/(json|octet-stream|vnd\.[a-z0-9.+-]+)|text\/plain)(;.*)?$/;

function expectSafe(r: RawResponse, what: string): void {
  expect(r.headers['x-content-type-options'], `${what}: nosniff`).toBe('nosniff');
  if (r.body.length > 0) expect(r.headers['content-type'], `${what}: Content-Type`).toMatch(SAFE_TYPE);
}

describe('X-Content-Type-Options: nosniff and a safe Content-Type on every response', () => {
  test.each([
    ['GET', '/v2/'],
    ['GET', '/v2/library/cached/manifests/latest'],
    ['GET', '/v2/library/cached/manifests/latest'], // now cached: the fast path
    ['HEAD', '/v2/library/cached/manifests/latest'],
    ['GET', '/v2/library/cached/manifests/latest?ns=docker.io'],
    ['GET', '/v2/library/cached/tags/list'],
    ['GET', '/v2/library/nothere/manifests/latest'],
    ['HEAD', '/v2/library/nothere/manifests/latest'],
    ['GET', '/v2/_catalog'],
    ['GET', '/healthz'],
    ['GET', '/metrics'],
    ['GET', '/admin/stats'],
    ['GET', '/auth/token?service=x&scope=repository:team/a:pull'],
    ['GET', '/no/such/endpoint'],
    ['DELETE', '/v2/library/cached/manifests/latest'],
    ['POST', '/v2/team/app/blobs/uploads/'],
  ])('%s %s', async (method, target) => {
    expectSafe(await send(method, target), `${method} ${target}`);
  });

  test('blob GET, full and ranged', async () => {
    expectSafe(await send('GET', `/v2/library/cached/blobs/${layer}`), 'blob');
    expectSafe(await send('GET', `/v2/library/cached/blobs/${layer}`, { headers: [['Range', 'bytes=0-1']] }), 'ranged blob');
  });

  test('an upload session through its life: POST, PATCH, GET, PUT', async () => {
    const auth: Array<[string, string]> = [['Authorization', ALICE]];
    const post = await send('POST', '/v2/team/app/blobs/uploads/', { headers: auth });
    expect(post.status).toBe(202);
    expectSafe(post, 'POST');
    const loc = post.headers.location!;
    expectSafe(await send('PATCH', loc, { headers: [...auth, ['Content-Type', 'application/octet-stream']], body: 'abc' }), 'PATCH');
    expectSafe(await send('GET', loc, { headers: auth }), 'GET upload');
    expectSafe(await send('PUT', `${loc}?digest=sha256:${'0'.repeat(64)}`, { headers: auth }), 'PUT bad digest');
  });

  test.each(['text/html', 'image/svg+xml', 'application/xhtml+xml'])(
    'an upstream manifest whose mediaType is %s is never served as that type (full path, then fast path)', async (type) => {
      const cfg = s.up.addBlob('{}');
      const name = `library/typed-${type.replace(/\W/g, '')}`;
      s.up.addManifest(name, JSON.stringify({
        schemaVersion: 2, mediaType: type,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfg, size: 2 }, layers: [],
      }), 'application/vnd.oci.image.manifest.v1+json', 'latest');
      for (let i = 0; i < 2; i++) {
        const r = await send('GET', `/v2/${name}/manifests/latest`);
        expect(r.headers['content-type']).not.toContain(type);
        expectSafe(r, `GET #${i + 1}`);
      }
    });
});

describe('5xx errors never carry internal addresses', () => {
  test('an upstream that refuses connections: the 502 names no IP, port or URL', async () => {
    const closed = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const port = (srv.address() as { port: number }).port;
        srv.close(() => resolve(port));
      });
    });
    const down = await startHostileServer({ MIRROR_UPSTREAM_URL: `http://127.0.0.1:${closed}` });
    try {
      const r = await rawRequest(down.port, { method: 'GET', target: '/v2/library/alpine/manifests/latest' });
      expect(r.status).toBeGreaterThanOrEqual(500);
      const text = r.body.toString();
      expect(JSON.parse(text).errors[0].code).toMatch(/^UPSTREAM_/);
      expect(text).not.toContain('127.0.0.1');
      expect(text).not.toContain(String(closed));
      expect(text).not.toMatch(/https?:\/\//);
    } finally {
      await down.close();
    }
  });
});

describe('the access log', () => {
  test('one line for every request (health, metrics, token, admin, 404s, /v2/), with the query, never a credential', async () => {
    const before = s.lines().length;
    const requests: Array<[string, string]> = [
      ['GET', '/healthz?probe=lb'],
      ['GET', '/metrics'],
      ['GET', '/admin/stats'],
      ['GET', '/auth/token?service=x&scope=repository:team/a:pull&password=hunter2&access_token=tok123'],
      ['GET', '/nope?x=1'],
      ['GET', '/v2/library/cached/manifests/latest?ns=docker.io'],
      ['GET', '/v2/library/cached/manifests/latest?ns=docker.io'],
      ['GET', '/v2/library/cached/manifests/latest'],
    ];
    for (const [method, target] of requests) {
      await send(method, target, { headers: [['Authorization', `Basic ${Buffer.from('alice:pw-in-header').toString('base64')}`]] });
    }
    await new Promise((r) => setTimeout(r, 50)); // access lines are flushed on setImmediate
    const lines = s.lines().slice(before).filter((l) => l.msg === 'request');
    expect(lines.map((l) => l.target)).toEqual([
      '/healthz?probe=lb',
      '/metrics',
      '/admin/stats',
      '/auth/token?service=x&scope=repository:team/a:pull&password=REDACTED&access_token=REDACTED',
      '/nope?x=1',
      '/v2/library/cached/manifests/latest?ns=docker.io',
      '/v2/library/cached/manifests/latest?ns=docker.io',
      '/v2/library/cached/manifests/latest',
    ]);
    expect(lines.every((l) => typeof l.status === 'number' && typeof l.method === 'string')).toBe(true);
    expect(lines[4]!.status).toBe(404);
    // The fast path's line agrees with the full path's.
    expect(Object.keys(lines[6]!).sort()).toEqual(Object.keys(lines[5]!).filter((k) => lines[5]![k] !== undefined).sort());
    // A request Node's parser refused is logged too (its method and target are unknown).
    const refusedBefore = s.lines().length;
    expect((await send('get', '/v2/?password=leak')).status).toBe(400);
    await new Promise((r) => setTimeout(r, 50));
    const refused = s.lines().slice(refusedBefore).filter((l) => l.msg === 'request');
    expect(refused.map((l) => [l.method, l.target, l.status])).toEqual([['-', '-', 400]]);
    const all = JSON.stringify(s.lines());
    expect(all).not.toContain('hunter2');
    expect(all).not.toContain('tok123');
    expect(all).not.toContain(Buffer.from('alice:pw-in-header').toString('base64'));
  });
});
