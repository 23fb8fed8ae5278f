/**
 * Proves the e2e harness against Distribution 2.8 directly (no mirror): a
 * token-auth registry that answers like Docker Hub, seeded over the HTTP API,
 * read back by skopeo with every digest unchanged.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { MediaTypes, seedImage, seedMultiArch, sha256, type SeededImage, type SeededIndex } from '../helpers/seed.js';
import { fileSha256, ociBlobPath, readDirImage, readOciLayout, skopeoCopy } from '../helpers/skopeo.js';

const BIG = 64 * 1024 * 1024;

describe('e2e harness: Distribution 2.8 behind token auth, seeded over HTTP, read by skopeo', () => {
  let registry: Distribution;
  let work: string;
  let multi: SeededIndex;
  let ociMulti: SeededIndex;
  let big: SeededImage;
  let raw: SeededImage;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'harness-e2e-'));
    registry = await startDistribution({ tokenAuth: true });
    [multi, ociMulti, big, raw] = await Promise.all([
      seedMultiArch(registry, 'library/multi', 'latest', { mediaType: 'docker' }),
      seedMultiArch(registry, 'library/oci-multi', 'latest', { mediaType: 'oci' }),
      seedImage(registry, 'library/big', 'latest', { layers: [{ size: BIG, seed: 'big' }] }),
      seedImage(registry, 'library/raw', 'v1', { layers: [{ size: 100_000, seed: 'raw', format: 'raw' }] }),
    ]);
  });

  afterAll(async () => {
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('anonymous GET /v2/ is 401 with a Bearer challenge naming realm and service', async () => {
    const res = await request(`${registry.url}/v2/`);
    await res.body.dump();
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      `Bearer realm="${registry.tokenServer!.realm}",service="registry.docker.io"`,
    );
  });

  test('the token server grants pull to anyone, push only to the known user', async () => {
    const scope = 'repository:library/multi:pull,push';
    const url = `${registry.tokenServer!.realm}?service=registry.docker.io&scope=${scope}`;
    const claims = async (authorization?: string): Promise<{ access: unknown; aud: string }> => {
      const res = await request(url, { headers: authorization ? { authorization } : {} });
      const body = (await res.body.json()) as { token: string; access_token: string; expires_in: number };
      expect(res.statusCode).toBe(200);
      expect(body.access_token).toBe(body.token);
      expect(body.expires_in).toBe(300);
      return JSON.parse(Buffer.from(body.token.split('.')[1]!, 'base64url').toString('utf8'));
    };
    const anonymous = await claims();
    expect(anonymous.aud).toBe('registry.docker.io');
    expect(anonymous.access).toEqual([{ type: 'repository', name: 'library/multi', actions: ['pull'] }]);
    const basic = `Basic ${Buffer.from('pusher:secret').toString('base64')}`;
    expect((await claims(basic)).access)
      .toEqual([{ type: 'repository', name: 'library/multi', actions: ['pull', 'push'] }]);

    const wrong = await request(url, {
      headers: { authorization: `Basic ${Buffer.from('pusher:nope').toString('base64')}` },
    });
    await wrong.body.dump();
    expect(wrong.statusCode).toBe(401);
  });

  test('skopeo copy --all of a docker manifest list to dir: keeps every digest', async () => {
    const dest = join(work, 'multi-dir');
    const copied = await skopeoCopy(`docker://${registry.host}/library/multi:latest`, `dir:${dest}`, { all: true });
    expect(multi.mediaType).toBe(MediaTypes.dockerList);
    expect(copied.digest).toBe(multi.digest);
    const image = readDirImage(dest);
    expect(image.digest).toBe(multi.digest);
    for (const child of multi.children) {
      expect(sha256(readFileSync(image.manifestPath(child.digest)))).toBe(child.digest);
      for (const digest of [child.configDigest, ...child.layerDigests]) {
        expect(await fileSha256(image.blobPath(digest))).toBe(digest);
      }
    }
    // The token server saw anonymous pull requests from skopeo.
    expect(registry.tokenServer!.requests.some((r) => r.user === undefined
      && r.scopes.includes('repository:library/multi:pull'))).toBe(true);
  });

  test('skopeo copy --all of an OCI index to oci: keeps every digest', async () => {
    const dest = join(work, 'oci-layout');
    const copied = await skopeoCopy(`docker://${registry.host}/library/oci-multi:latest`, `oci:${dest}:latest`, { all: true });
    expect(copied.digest).toBe(ociMulti.digest);
    const tagged = readOciLayout(dest, 'latest');
    expect(tagged.mediaType).toBe(MediaTypes.ociIndex);
    expect(tagged.digest).toBe(ociMulti.digest);
    expect(tagged.manifest.equals(ociMulti.manifest)).toBe(true);
    for (const child of ociMulti.children) {
      for (const digest of [child.digest, child.configDigest, ...child.layerDigests]) {
        expect(existsSync(ociBlobPath(dest, digest)), digest).toBe(true);
      }
    }
  });

  test('skopeo converts a docker manifest list written to oci: (so compare digests via dir:)', async () => {
    const dest = join(work, 'converted');
    const copied = await skopeoCopy(`docker://${registry.host}/library/multi:latest`, `oci:${dest}:latest`, { all: true });
    expect(copied.digest).not.toBe(multi.digest);
    expect(readOciLayout(dest, 'latest').mediaType).toBe(MediaTypes.ociIndex);
    await expect(skopeoCopy(`docker://${registry.host}/library/multi:latest`, `oci:${dest}-2:latest`, {
      all: true, preserveDigests: true,
    })).rejects.toThrow(/preserve digests/);
  });

  test('skopeo copies a 64 MiB streamed layer to dir: with the seeded digests', async () => {
    const dest = join(work, 'big-dir');
    const copied = await skopeoCopy(`docker://${registry.host}/library/big:latest`, `dir:${dest}`);
    expect(copied.digest).toBe(big.digest);
    const layer = big.layers[0]!;
    expect(layer.size).toBeGreaterThan(BIG);
    const image = readDirImage(dest);
    expect(image.manifest.equals(big.manifest)).toBe(true);
    expect(statSync(image.blobPath(layer.digest)).size).toBe(layer.size);
    expect(await fileSha256(image.blobPath(layer.digest))).toBe(layer.digest);
    // A real tar.gz: the config's diff_id is the sha256 of the unpacked tar.
    const config = JSON.parse(readFileSync(image.blobPath(big.configDigest), 'utf8')) as {
      rootfs: { diff_ids: string[] };
    };
    const tarHash = createHash('sha256');
    await pipeline(createReadStream(image.blobPath(layer.digest)), createGunzip(), tarHash);
    expect(config.rootfs.diff_ids).toEqual([`sha256:${tarHash.digest('hex')}`]);
  });

  test('a layer of raw random bytes labelled tar.gzip copies unchanged (skopeo does not unpack)', async () => {
    const dest = join(work, 'raw-dir');
    const copied = await skopeoCopy(`docker://${registry.host}/library/raw:v1`, `dir:${dest}`);
    expect(copied.digest).toBe(raw.digest);
    const digest = raw.layerDigests[0]!;
    expect(await fileSha256(readDirImage(dest).blobPath(digest))).toBe(digest);
  });

  test('Distribution hides an OCI index from clients that do not accept it', async () => {
    const token = registry.tokenServer!.issueToken('registry.docker.io', [
      { type: 'repository', name: 'library/oci-multi', actions: ['pull'] },
    ]);
    const get = async (accept: string): Promise<number> => {
      const res = await request(`${registry.url}/v2/library/oci-multi/manifests/latest`, {
        headers: { authorization: `Bearer ${token}`, accept },
      });
      await res.body.dump();
      return res.statusCode;
    };
    expect(await get(MediaTypes.dockerManifest)).toBe(404);
    expect(await get(MediaTypes.ociIndex)).toBe(200);
  });
});
