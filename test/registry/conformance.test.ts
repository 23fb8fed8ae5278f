/**
 * The two cases the OCI distribution-spec v1.1.1 conformance suite failed on (issue 7,
 * finding 17): GET/HEAD of a manifest by an invalid reference is 404 MANIFEST_UNKNOWN,
 * and a cross-mount without `from` mounts automatically from a local repository the
 * caller may pull — never from one it may not pull, never from a mirrored repository.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { upstreamRequestsFor } from '../helpers/local-registry.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';
import { basicAuth, createOciClient, imageManifest, MT, sha256, type OciClient } from '../helpers/oci-client.js';

const RULES = [
  { repository: 'team/*', pull: ['*'], push: ['alice', 'bob'], delete: ['alice'] },
  { repository: 'private/bob/**', pull: ['bob'], push: ['bob'], delete: ['bob'] },
  { repository: 'private/**', pull: ['alice'], push: ['alice'], delete: ['alice'] },
];

let reg: { up: FakeUpstream; mirror: MirrorApp; alice: OciClient; bob: OciClient; anon: OciClient };
let htpasswdDir: string;
let n = 0;
const teamRepo = () => `team/conf-${++n}`;

beforeAll(async () => {
  // bcrypt hashes made with the project's own library: no htpasswd binary needed.
  htpasswdDir = mkdtempSync(join(tmpdir(), 'htpasswd-'));
  const file = join(htpasswdDir, 'htpasswd');
  writeFileSync(file, `alice:${bcrypt.hashSync('secret', 5)}\nbob:${bcrypt.hashSync('hunter2', 5)}\n`);
  const up = await startFakeUpstream();
  const mirror = await startMirrorApp(up.url, {
    MIRROR_LOCAL_NAMESPACES: 'team/*,private/**', MIRROR_AUTH_HTPASSWD: file, MIRROR_AUTH_RULES: JSON.stringify(RULES),
  });
  reg = {
    up, mirror,
    alice: createOciClient(mirror.url, basicAuth('alice', 'secret')),
    bob: createOciClient(mirror.url, basicAuth('bob', 'hunter2')),
    anon: createOciClient(mirror.url),
  };
});
afterAll(async () => {
  await reg?.mirror.close();
  await reg?.up.close();
  rmSync(htpasswdDir, { recursive: true, force: true });
});

describe('a manifest by an invalid reference', () => {
  test.each(['GET', 'HEAD'] as const)('%s .INVALID_MANIFEST_NAME in a local repository: 404 MANIFEST_UNKNOWN', async (method) => {
    const name = teamRepo();
    await reg.alice.pushImage(name, 'v1');
    const r = await reg.alice.call(`/v2/${name}/manifests/.INVALID_MANIFEST_NAME`, { method });
    expect(r.status).toBe(404);
    if (method === 'GET') expect(r.codes()).toEqual(['MANIFEST_UNKNOWN']);
  });

  test('GET of an invalid reference under a mirrored name: 404 MANIFEST_UNKNOWN, the upstream never asked', async () => {
    const r = await reg.anon.call('/v2/library/alpine/manifests/.INVALID_MANIFEST_NAME');
    expect(r.status).toBe(404);
    expect(r.codes()).toEqual(['MANIFEST_UNKNOWN']);
    expect(upstreamRequestsFor(reg.up, 'library/alpine')).toHaveLength(0);
  });

  test('a PUT to an invalid reference is still refused with a 400', async () => {
    const name = teamRepo();
    const img = await reg.alice.pushImage(name, 'v1');
    const r = await reg.alice.putManifest(name, '.INVALID_MANIFEST_NAME', img.manifest, MT.manifest);
    expect(r.status).toBe(400);
  });
});

describe('POST /blobs/uploads/?mount=<digest> without from', () => {
  test('the blob is in a local repository the caller may pull: 201 with Location and Docker-Content-Digest, and it is served', async () => {
    const source = teamRepo();
    const dest = teamRepo();
    const bytes = randomBytes(3000);
    const { digest } = await reg.alice.pushBlob(source, bytes);
    const r = await reg.bob.call(`/v2/${dest}/blobs/uploads/?mount=${digest}`, { method: 'POST' });
    expect(r.status).toBe(201);
    expect(r.header('location')).toMatch(new RegExp(`/v2/${dest}/blobs/${digest}$`));
    expect(r.header('docker-content-digest')).toBe(digest);
    const get = await reg.bob.call(`/v2/${dest}/blobs/${digest}`);
    expect(get.status).toBe(200);
    expect(get.body.equals(bytes)).toBe(true);
    // The mounted blob is usable by a manifest push into the destination.
    const config = await reg.bob.pushBlob(dest, Buffer.from('{}'));
    const put = await reg.bob.putManifest(dest, 'mounted', imageManifest({
      config: { mediaType: MT.config, digest: config.digest, size: 2 },
      layers: [{ mediaType: MT.layer, digest, size: bytes.length }],
    }), MT.manifest);
    expect(put.status).toBe(201);
  });

  test('the blob is only in a repository the caller may not pull: 202 and a new upload, nothing linked', async () => {
    const bytes = randomBytes(2000);
    const { digest } = await reg.alice.pushBlob('private/alice/secret', bytes);
    const r = await reg.bob.call(`/v2/private/bob/app/blobs/uploads/?mount=${digest}`, { method: 'POST' });
    expect(r.status).toBe(202);
    expect(r.header('location')).toMatch(/\/v2\/private\/bob\/app\/blobs\/uploads\/[^/]+$/);
    expect(await reg.mirror.ports.blobs.hasRepoBlob('private/bob/app', digest)).toBe(false);
    expect((await reg.bob.call(`/v2/private/bob/app/blobs/${digest}`)).status).toBe(404);
  });

  test('the blob is only in a mirrored repository: 202, never mounted into a local one', async () => {
    const img = reg.up.addImage('library/mounted', 'latest', { layers: [randomBytes(1500)] });
    const layer = img.layers[0]!;
    expect((await reg.anon.call(`/v2/library/mounted/blobs/${layer}`)).status).toBe(200);
    const dest = teamRepo();
    const r = await reg.alice.call(`/v2/${dest}/blobs/uploads/?mount=${layer}`, { method: 'POST' });
    expect(r.status).toBe(202);
    expect(await reg.mirror.ports.blobs.hasRepoBlob(dest, layer)).toBe(false);
  });

  test('the blob is nowhere: 202 and an upload session that completes the push', async () => {
    const dest = teamRepo();
    const bytes = randomBytes(1000);
    const r = await reg.alice.call(`/v2/${dest}/blobs/uploads/?mount=${sha256(bytes)}`, { method: 'POST' });
    expect(r.status).toBe(202);
    const u = new URL(r.header('location'), reg.alice.url);
    u.searchParams.set('digest', sha256(bytes));
    const put = await reg.alice.call(u.toString(), { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    expect(put.status).toBe(201);
  });
});
