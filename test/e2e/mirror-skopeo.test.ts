/**
 * skopeo pulls through the mirror from a real Distribution 2.8 upstream behind token
 * auth (as Docker Hub is): a multi-arch index (Docker and OCI types) and a 64 MiB
 * image, cold then warm, with digests identical to the upstream's and no upstream blob
 * request on the warm pull.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { startMirror, type MirrorProcess } from '../helpers/mirror.js';
import { seedImage, seedMultiArch, sha256, type SeededImage, type SeededIndex } from '../helpers/seed.js';
import { fileSha256, readDirImage, readOciLayout, skopeoCopy } from '../helpers/skopeo.js';

const BIG = 64 * 1024 * 1024;
const BLOB_GET = /\/blobs\/sha256:/;

describe('skopeo through the mirror, Distribution 2.8 with token auth upstream', () => {
  let registry: Distribution;
  let proxy: CountingProxy;
  let mirror: MirrorProcess;
  let work: string;
  let multi: SeededIndex;
  let ociMulti: SeededIndex;
  let big: SeededImage;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'mirror-e2e-'));
    registry = await startDistribution({ tokenAuth: true });
    [multi, ociMulti, big] = await Promise.all([
      seedMultiArch(registry, 'library/multi', 'latest', { mediaType: 'docker' }),
      seedMultiArch(registry, 'library/oci-multi', 'latest', { mediaType: 'oci' }),
      seedImage(registry, 'library/big', 'latest', { layers: [{ size: BIG, seed: 'big-e2e' }] }),
    ]);
    proxy = await startCountingProxy(registry.url);
    // A short tag TTL, so that warm pulls revalidate and the last test meets a dead upstream.
    mirror = await startMirror({ upstreamUrl: proxy.url, env: { MIRROR_UPSTREAM_TAG_TTL: '1s' } });
  });

  afterAll(async () => {
    await mirror?.destroy();
    await proxy?.close();
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const copyDir = async (ref: string, name: string, all = false) => {
    const dest = join(work, name);
    const result = await skopeoCopy(`docker://${mirror.host}/${ref}`, `dir:${dest}`, { all });
    return { result, image: readDirImage(dest) };
  };

  test('a Docker multi-arch manifest list: cold, then warm with no upstream blob request', async () => {
    const cold = await copyDir('library/multi:latest', 'multi-cold', true);
    expect(cold.result.digest).toBe(multi.digest);
    for (const child of multi.children) {
      expect(sha256(readFileSync(cold.image.manifestPath(child.digest)))).toBe(child.digest);
      for (const digest of [child.configDigest, ...child.layerDigests]) {
        expect(await fileSha256(cold.image.blobPath(digest))).toBe(digest);
      }
    }
    const blobGets = proxy.count('GET', BLOB_GET);
    expect(blobGets).toBe(multi.children.reduce((n, c) => n + 1 + c.layerDigests.length, 0));

    const warm = await copyDir('library/multi:latest', 'multi-warm', true);
    expect(warm.result.digest).toBe(multi.digest);
    expect(proxy.count('GET', BLOB_GET)).toBe(blobGets);
  });

  test('an OCI index, by its short name (library/ is implied): digests kept exactly', async () => {
    const dest = join(work, 'oci-layout');
    const copied = await skopeoCopy(`docker://${mirror.host}/oci-multi:latest`, `oci:${dest}:latest`, { all: true });
    expect(copied.digest).toBe(ociMulti.digest);
    const tagged = readOciLayout(dest, 'latest');
    expect(tagged.manifest.equals(ociMulti.manifest)).toBe(true);
  });

  test('a 64 MiB layer: cold then warm, identical digests, the warm pull asks upstream for no blob', async () => {
    const cold = await copyDir('library/big:latest', 'big-cold');
    expect(cold.result.digest).toBe(big.digest);
    const layer = big.layers[0]!;
    expect(statSync(cold.image.blobPath(layer.digest)).size).toBe(layer.size);
    expect(await fileSha256(cold.image.blobPath(layer.digest))).toBe(layer.digest);
    const before = proxy.count('GET', BLOB_GET);

    const warm = await copyDir('library/big:latest', 'big-warm');
    expect(warm.result.digest).toBe(big.digest);
    expect(await fileSha256(warm.image.blobPath(layer.digest))).toBe(layer.digest);
    expect(proxy.count('GET', BLOB_GET)).toBe(before);
    // The layer reached the upstream exactly once over both pulls.
    expect(proxy.count('GET', new RegExp(layer.digest))).toBe(1);
  });

  test('upstream down: cached tags still pull, with the same digests', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // past the tag TTL: the mirror must ask
    await proxy.close();
    const multiAgain = await copyDir('library/multi:latest', 'multi-offline', true);
    expect(multiAgain.result.digest).toBe(multi.digest);
    const bigAgain = await copyDir('library/big:latest', 'big-offline');
    expect(bigAgain.result.digest).toBe(big.digest);
    expect(await fileSha256(bigAgain.image.blobPath(big.layers[0]!.digest))).toBe(big.layers[0]!.digest);
  });
});
