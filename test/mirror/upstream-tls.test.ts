/**
 * Issue 10: TLS options per upstream. One HTTPS registry with a self-signed certificate,
 * configured three times: with its CA file (trusted, besides the system CAs), with
 * insecure_skip_verify (accepted, said loudly at start) and with neither (refused).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { mirrorAppConfig, startMirrorAppWith, type MirrorApp } from '../helpers/mirror-app.js';

const MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const manifest = Buffer.from(JSON.stringify({
  schemaVersion: 2, mediaType: MEDIA_TYPE,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 2 },
  layers: [],
}));
const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;

let dir: string;
let registry: Server;
let mirror: MirrorApp;
const warnings: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'upstream-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'ca.pem'),
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  // A registry of one manifest, no auth: enough to see whether the TLS handshake was accepted.
  registry = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'ca.pem')) }, (req, res) => {
    if (/^\/v2\/.+\/manifests\/[^/]+$/.test(req.url ?? '')) {
      res.writeHead(200, { 'content-type': MEDIA_TYPE, 'docker-content-digest': digest, 'content-length': manifest.length });
      res.end(req.method === 'HEAD' ? undefined : manifest);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(registry.address() as AddressInfo).port}`;
  const config = mirrorAppConfig('http://127.0.0.1:9', {
    MIRROR_UPSTREAMS: JSON.stringify([
      { name: 'secure.example', url, tls: { ca_file: join(dir, 'ca.pem') } },
      { name: 'lab.example', url, tls: { insecure_skip_verify: true } },
      { name: 'plain.example', url },
    ]),
  });
  const log = createLogger('warn', (line) => { warnings.push(line); });
  mirror = await startMirrorAppWith(config, { log });
});
afterAll(async () => {
  await mirror?.close();
  await new Promise((resolve) => registry?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

async function pull(host: string) {
  const res = await request(`${mirror.url}/v2/${host}/app/manifests/1`, { headers: { accept: MEDIA_TYPE } });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, digest: res.headers['docker-content-digest'], body };
}

describe('TLS to an upstream', () => {
  test('tls.ca_file: the self-signed registry is trusted', async () => {
    expect(await pull('secure.example')).toMatchObject({ status: 200, digest });
  });

  test('tls.insecure_skip_verify: accepted, and a warning naming the upstream was logged at start', async () => {
    expect(await pull('lab.example')).toMatchObject({ status: 200, digest });
    const loud = warnings.filter((w) => w.includes('verification is OFF'));
    expect(loud).toHaveLength(1);
    expect(loud[0]).toContain('lab.example');
  });

  test('neither: the certificate is refused (502 UPSTREAM_UNAVAILABLE), no address or path in the answer', async () => {
    const res = await pull('plain.example');
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body.toString()).errors[0].code).toBe('UPSTREAM_UNAVAILABLE');
    expect(res.body.toString()).not.toMatch(/127\.0\.0\.1|ca\.pem/);
  });
});
