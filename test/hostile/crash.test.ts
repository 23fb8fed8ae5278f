/**
 * Finding 1 of issue 7: requests that used to kill the process. The mirror runs as users
 * run it (`node dist/main.js serve`); each request must get an answer — an OCI JSON error
 * or a good response — and the process must still be running and answering afterwards.
 */
import { request as rawRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startMirror, type MirrorProcess } from '../helpers/mirror.js';

let up: FakeUpstream;
let mirror: MirrorProcess;

beforeAll(async () => {
  up = await startFakeUpstream();
  mirror = await startMirror({ upstreamUrl: up.url, env: { MIRROR_UPSTREAM_TAG_TTL: '10m' } });
});
afterAll(async () => {
  await mirror?.destroy();
  await up?.close();
});

/** A request with the target exactly as given (no client-side URL normalisation). */
function send(method: string, target: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(mirror.url);
  return new Promise((resolve, reject) => {
    const req = rawRequest({ host: u.hostname, port: u.port, method, path: target, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', (err) => reject(new Error(`${method} ${target}: ${err.message}; mirror exit status ${String(mirror.process.exitStatus())}`)));
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.end();
  });
}

async function expectAlive(): Promise<void> {
  expect(mirror.process.exitStatus()).toBeUndefined();
  const ping = await send('GET', '/v2/');
  expect(ping.status).toBe(200);
}

function expectOciError(r: { status: number; headers: Record<string, unknown>; body: string }, status?: number): void {
  if (status !== undefined) expect(r.status).toBe(status);
  expect(String(r.headers['content-type'])).toMatch(/^application\/json/);
  const body = JSON.parse(r.body) as { errors: Array<{ code: string; message: string }> };
  expect(body.errors[0]!.code).toMatch(/^[A-Z_]+$/);
  expect(r.headers['x-content-type-options']).toBe('nosniff');
}

describe('a bad percent-escape in ?ns= (the cached-manifest fast path decoded it outside any handler)', () => {
  test.each(['/v2/?ns=%', '/v2/library/alpine/manifests/latest?ns=%E0%A4%A', '/v2/x/manifests/y?ns=%zz', '/healthz?ns=%'])(
    'GET %s answers, and the server still answers afterwards', async (target) => {
      const r = await send('GET', target);
      expect(r.status).toBeLessThan(500);
      if (r.status >= 400) expectOciError(r);
      await expectAlive();
    });

  test('with a fresh cached tag: the same tag with ?ns=% is an OCI error, the cached tag still a HIT', async () => {
    up.addImage('library/cached', 'latest', { layers: [Buffer.from('layer')] });
    expect((await send('GET', '/v2/library/cached/manifests/latest')).status).toBe(200);
    const bad = await send('GET', '/v2/library/cached/manifests/latest?ns=%');
    expectOciError(bad, 404);
    const hit = await send('GET', '/v2/library/cached/manifests/latest');
    expect(hit.status).toBe(200);
    expect(hit.headers['x-cache']).toBe('HIT');
  });
});

describe('an upstream manifest whose mediaType contains CR/LF', () => {
  test('neither the first GET nor the cached ones crash the process or answer text/plain', async () => {
    const config = up.addBlob('{}');
    const evil = 'application/vnd.oci.image.manifest.v1+json\r\nX-Evil: 1';
    const manifest = JSON.stringify({
      schemaVersion: 2, mediaType: evil,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 }, layers: [],
    });
    up.addManifest('library/crlf', manifest, 'application/vnd.oci.image.manifest.v1+json', 'latest');
    for (let i = 0; i < 3; i++) {
      for (const method of ['GET', 'HEAD']) {
        const r = await send(method, '/v2/library/crlf/manifests/latest');
        expect(r.headers['x-evil']).toBeUndefined();
        if (r.status === 200) {
          expect(r.headers['content-type']).not.toMatch(/[\r\n]/);
        } else {
          expect(r.status === 502 || r.status === 500).toBe(true);
          if (method === 'GET') expectOciError(r);
        }
        expect(r.headers['x-content-type-options']).toBe('nosniff');
      }
    }
    await expectAlive();
  });
});
