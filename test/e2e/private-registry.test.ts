/**
 * The private registry with real clients: skopeo pushes an OCI layout with --dest-creds,
 * podman logs in and pushes, both pull back with identical digests; pushes without
 * credentials or to a mirrored name are refused; a client pulls over HTTPS with the
 * test's self-signed certificate. Upstream: Distribution 2.8 with token auth.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { OFFLINE_ENV, startDistribution, type Distribution } from '../helpers/distribution.js';
import { htpasswdText } from '../helpers/htpasswd.js';
import { startMirror, type MirrorProcess } from '../helpers/mirror.js';
import { seedImage, type SeededImage } from '../helpers/seed.js';
import { skopeoCopy, skopeoInspectDigest } from '../helpers/skopeo.js';

describe('private registry: local namespace team/* beside the mirror', () => {
  let registry: Distribution;
  let mirror: MirrorProcess;
  let tls: MirrorProcess;
  let work: string;
  let image: SeededImage;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'private-e2e-'));
    const htpasswd = join(work, 'htpasswd');
    writeFileSync(htpasswd, htpasswdText({ alice: 'secret' }));
    mkdirSync(join(work, 'certs'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
      '-keyout', join(work, 'key.pem'), '-out', join(work, 'certs', 'ca.crt'),
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    registry = await startDistribution({ tokenAuth: true });
    image = await seedImage(registry, 'library/base', 'latest', { layers: [{ size: 2 * 1024 * 1024, seed: 'base' }], mediaType: 'oci' });
    const env = { MIRROR_LOCAL_NAMESPACES: 'team/*', MIRROR_AUTH_HTPASSWD: htpasswd };
    mirror = await startMirror({ upstreamUrl: registry.url, env });
    tls = await startMirror({
      upstreamUrl: registry.url, scheme: 'https', caFile: join(work, 'certs', 'ca.crt'),
      env: { ...env, MIRROR_HTTP_TLS_CERTIFICATE: join(work, 'certs', 'ca.crt'), MIRROR_HTTP_TLS_KEY: join(work, 'key.pem') },
    });
  });

  afterAll(async () => {
    await mirror?.destroy();
    await tls?.destroy();
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('skopeo pushes an OCI layout with --dest-creds and pulls it back with the same digest', async () => {
    const layout = join(work, 'layout');
    await skopeoCopy(`docker://${mirror.host}/library/base:latest`, `oci:${layout}:latest`);
    const pushed = await skopeoCopy(`oci:${layout}:latest`, `docker://${mirror.host}/team/app:1`, {
      destTls: false, extraArgs: ['--dest-creds', 'alice:secret'],
    });
    expect(pushed.digest).toBe(image.digest);
    const pulled = await skopeoCopy(`docker://${mirror.host}/team/app:1`, `dir:${join(work, 'app-dir')}`, {
      extraArgs: ['--src-creds', 'alice:secret'],
    });
    expect(pulled.digest).toBe(image.digest);
  });

  test('a push without credentials, or with a wrong password, is refused', async () => {
    const layout = join(work, 'layout');
    await expect(skopeoCopy(`oci:${layout}:latest`, `docker://${mirror.host}/team/anon:1`, { destTls: false }))
      .rejects.toThrow(/unauthorized|authentication required|401/i);
    await expect(skopeoCopy(`oci:${layout}:latest`, `docker://${mirror.host}/team/anon:1`, {
      destTls: false, extraArgs: ['--dest-creds', 'alice:wrong'],
    })).rejects.toThrow(/unauthorized|401|invalid/i);
  });

  test('a push to a mirrored name is refused', async () => {
    const layout = join(work, 'layout');
    await expect(skopeoCopy(`oci:${layout}:latest`, `docker://${mirror.host}/library/base:hijack`, {
      destTls: false, extraArgs: ['--dest-creds', 'alice:secret'],
    })).rejects.toThrow(/denied|403/i);
  });

  test('podman logs in, pushes (vfs storage) and the image pulls back with the same digest', async () => {
    const root = join(work, 'podman');
    const authfile = join(work, 'auth.json');
    const podman = (...args: string[]) => execFileSync('podman', [
      '--root', join(root, 'root'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs', ...args,
    ], { env: { ...process.env, ...OFFLINE_ENV }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 }).toString();
    podman('pull', '--tls-verify=false', `${mirror.host}/library/base:latest`);
    podman('login', '--tls-verify=false', '--authfile', authfile, '-u', 'alice', '-p', 'secret', mirror.host);
    const digestFile = join(work, 'podman.digest');
    podman('push', '--tls-verify=false', '--authfile', authfile, '--digestfile', digestFile,
      `${mirror.host}/library/base:latest`, `docker://${mirror.host}/team/podman:1`);
    const pushed = readFileSync(digestFile, 'utf8').trim();
    expect(pushed).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(await skopeoInspectDigest(`docker://${mirror.host}/team/podman:1`, { extraArgs: ['--creds', 'alice:secret'] }))
      .toBe(pushed);
    expect(() => podman('login', '--tls-verify=false', '--authfile', join(work, 'bad.json'), '-u', 'alice', '-p', 'nope', mirror.host))
      .toThrow();
  });

  test('over HTTPS with the self-signed certificate: skopeo pulls with the CA, and refuses without it', async () => {
    const pulled = await skopeoCopy(`docker://${tls.host}/library/base:latest`, `dir:${join(work, 'tls-dir')}`, {
      srcTls: true, extraArgs: ['--src-cert-dir', join(work, 'certs')],
    });
    expect(pulled.digest).toBe(image.digest);
    await expect(skopeoCopy(`docker://${tls.host}/library/base:latest`, `dir:${join(work, 'tls-dir2')}`, { srcTls: true }))
      .rejects.toThrow(/certificate|x509/i);
  });
});
