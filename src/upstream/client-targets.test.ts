/**
 * What an upstream can make the client dial: redirect targets and token realms are
 * checked (scheme, https → http, non-public addresses by host identity, the operator's
 * allow list), and the upstream account goes only to a realm on https or on the
 * upstream's own host. The upstream here is a raw server on 127.0.0.1, so 127.0.0.1 is
 * "its own host"; other loopback names (127.0.0.2, localhost) stand for internal targets.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { MockAgent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { OciError } from '../oci/errors.js';
import { createAddressPolicy } from './address-policy.js';
import { createUpstreamClient, type UpstreamClient } from './client.js';
import { followRedirects } from './redirects.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Seen {
  path: string;
  auth?: string;
}

/** An HTTP server on `host` that logs every request and answers with `handler`. */
async function server(
  host: string,
  handler: (req: IncomingMessage, res: ServerResponse, base: string) => void,
): Promise<{ base: string; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  let base = '';
  const s = createServer((req, res) => {
    seen.push({ path: req.url ?? '', ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
    handler(req, res, base);
  });
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as AddressInfo).port;
  base = `http://${host}:${port}`;
  cleanups.push(() => new Promise((r) => { s.closeAllConnections(); s.close(() => r()); }));
  return { base, port, seen };
}

/** A target that would hand out a secret to whoever reaches it. */
const secretTarget = (host: string) => server(host, (_req, res) => res.writeHead(200, { 'content-length': 6 }).end('SECRET'));

function client(url: string, cfg: Partial<UpstreamConfig> = {}, log?: Logger): UpstreamClient {
  const c = createUpstreamClient(
    {
      name: 'hostile',
      url,
      connectTimeoutMs: 2000,
      timeoutMs: 3000,
      concurrency: 2,
      tagTtlMs: 0,
      officialPrefix: '',
      redirectAllow: [],
      fillDeadlineMs: 0,
      minThroughput: 0,
      throughputWindowMs: 0, prefetch: 0,
      prefetchPlatforms: [], prefetchMinBudget: 0,
      ...cfg,
    },
    log ? { log } : {},
  );
  cleanups.push(() => c.close());
  return c;
}

/** An upstream whose blob GETs redirect to `location` (a function of the request's base). */
const redirectingUpstream = (location: string) =>
  server('127.0.0.1', (_req, res) => res.writeHead(307, { location, 'content-length': 0 }).end());

async function thrown(p: Promise<unknown>): Promise<OciError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(OciError);
  return err as OciError;
}

async function readAll(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks).toString();
}

const DIGEST = 'sha256:' + 'c'.repeat(64);

describe('upstream client: redirect targets', () => {
  it('refuses a redirect to another loopback address (127.0.0.2): nothing is sent to it', async () => {
    const target = await secretTarget('127.0.0.2');
    const up = await redirectingUpstream(`${target.base}/internal`);
    const err = await thrown(client(up.base).blob('GET', 'r', DIGEST));
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(err.detail).toEqual({ upstream: 'hostile', reason: 'redirect refused' });
    expect(target.seen).toHaveLength(0);
  });

  it('refuses a redirect to a name that resolves to loopback (localhost), checked on the dialled address', async () => {
    const target = await secretTarget('127.0.0.1');
    const up = await redirectingUpstream(`http://localhost:${target.port}/internal`);
    const err = await thrown(client(up.base).blob('GET', 'r', DIGEST));
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(err.detail).toEqual({ upstream: 'hostile', reason: 'address not allowed' });
    expect(target.seen).toHaveLength(0);
  });

  it('refuses IPv4-mapped IPv6 and non-http(s) targets', async () => {
    for (const location of ['http://[::ffff:127.0.0.2]:1/x', 'file:///etc/passwd', 'ftp://example.com/x']) {
      const up = await redirectingUpstream(location);
      const err = await thrown(client(up.base).blob('GET', 'r', DIGEST));
      expect(err.detail).toEqual({ upstream: 'hostile', reason: 'redirect refused' });
    }
  });

  it('refuses a redirect from https down to http', async () => {
    // The first hop is served by a mock https origin; the check runs before the http
    // target is dialled, so the target (allowed by host) still sees nothing.
    const target = await secretTarget('127.0.0.1');
    const agent = new MockAgent();
    agent.disableNetConnect();
    agent.get('https://registry.example').intercept({ path: '/v2/r/blobs/x' }).reply(307, '', { headers: { location: `${target.base}/x` } });
    cleanups.push(() => agent.close());
    const err = await thrown(followRedirects('GET', 'https://registry.example/v2/r/blobs/x', {}, {
      dispatcher: agent, trustedOrigin: 'https://registry.example', maxRedirects: 5, upstream: 'hostile',
      policy: createAddressPolicy('https://registry.example', ['127.0.0.1']),
    }));
    expect(err.detail).toEqual({ upstream: 'hostile', reason: 'redirect refused' });
    expect((err.cause as Error).message).toContain('https to http');
    expect(target.seen).toHaveLength(0);
  });

  it('follows a redirect to a host the operator allows, and to the upstream host itself', async () => {
    const target = await secretTarget('127.0.0.1');
    const viaName = await redirectingUpstream(`http://localhost:${target.port}/cdn`);
    const allowed = await client(viaName.base, { redirectAllow: ['localhost'] }).blob('GET', 'r', DIGEST);
    expect(await readAll(allowed.body)).toBe('SECRET');
    const sameHost = await redirectingUpstream(`${target.base}/cdn`);
    const own = await client(sameHost.base).blob('GET', 'r', DIGEST);
    expect(await readAll(own.body)).toBe('SECRET');
    expect(target.seen).toHaveLength(2);
  });
});

describe('upstream client: token realms', () => {
  /** A registry that challenges with `realm` and accepts any Bearer token. */
  const challengingUpstream = (realm: string) =>
    server('127.0.0.1', (req, res) => {
      if (req.headers.authorization?.startsWith('Bearer ')) return res.writeHead(200, { 'content-length': 2 }).end('{}');
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="s"`, 'content-length': 0 }).end();
    });
  const tokenServer = (host: string) =>
    server(host, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 't' })));
  const credentials = { username: 'alice', password: 'pw' };

  it('never sends the account to a realm on another host over plain http (asks anonymously, warns)', async () => {
    const realm = await tokenServer('127.0.0.1');
    const up = await challengingUpstream(`http://localhost:${realm.port}/token`);
    const warnings: string[] = [];
    const log = { warn: (m: string) => warnings.push(m) } as unknown as Logger;
    const res = await client(up.base, { ...credentials, redirectAllow: ['localhost'] }, log).manifest('GET', 'r', 'latest');
    expect(res.status).toBe(200);
    await readAll(res.body);
    expect(realm.seen).toHaveLength(1);
    expect(realm.seen[0]!.auth).toBeUndefined();
    expect(warnings.join('\n')).toContain('without credentials');
  });

  it('sends the account to a realm on the upstream host itself, even over http', async () => {
    const realm = await tokenServer('127.0.0.1');
    const up = await challengingUpstream(`${realm.base}/token`);
    const res = await client(up.base, credentials).manifest('GET', 'r', 'latest');
    await readAll(res.body);
    expect(realm.seen[0]!.auth).toBe(`Basic ${Buffer.from('alice:pw').toString('base64')}`);
  });

  it('refuses a realm at an internal address the upstream does not own: no request reaches it', async () => {
    for (const host of ['127.0.0.2', 'localhost']) {
      const realm = await tokenServer(host === 'localhost' ? '127.0.0.1' : host);
      const up = await challengingUpstream(`http://${host}:${realm.port}/token`);
      const err = await thrown(client(up.base, credentials).manifest('GET', 'r', 'latest'));
      expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(JSON.stringify(err.toJSON())).not.toContain(String(realm.port));
      expect(realm.seen).toHaveLength(0);
    }
  });
});
