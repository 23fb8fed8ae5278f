/**
 * Real clients configured to use the mirror AS A MIRROR of docker.io (they name
 * docker.io images, never the mirror's host) pull through it from a real Distribution
 * 2.8 upstream behind token auth: dockerd `registry-mirrors`, podman `[[registry.mirror]]`
 * and containerd `hosts.toml`. Docker Hub is unreachable (dead proxy), so an image
 * with the seeded digest can only have come through the mirror; the counting proxy
 * between mirror and upstream, and the mirror's /metrics, show the cold and warm pulls.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { request } from 'undici';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { startContainerd, startDockerd, type Containerd, type Dockerd } from '../helpers/dockerd.js';
import { startMirror, type MirrorProcess } from '../helpers/mirror.js';
import { podmanSandbox, type PodmanSandbox } from '../helpers/podman.js';
import { pushManifest, seedMultiArch, type SeededImage, type SeededIndex } from '../helpers/seed.js';

const BLOB_GET = /\/blobs\/sha256:/;

let registry: Distribution;
let multi: SeededIndex;
let ociMulti: SeededIndex;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'clients-mirror-'));
  registry = await startDistribution({ tokenAuth: true });
  [multi, ociMulti] = await Promise.all([
    seedMultiArch(registry, 'library/multi', 'latest', { mediaType: 'docker' }),
    seedMultiArch(registry, 'library/oci-multi', 'latest', { mediaType: 'oci' }),
  ]);
  // A second tag of the same index.
  await pushManifest(registry, 'library/multi', 'stable', multi.manifest, multi.mediaType);
});

afterAll(async () => {
  await registry?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A fresh (cold) mirror behind which a counting proxy sees every upstream request. */
function useMirror(): { mirror: () => MirrorProcess; upstream: () => CountingProxy } {
  let mirror: MirrorProcess;
  let upstream: CountingProxy;
  beforeAll(async () => {
    upstream = await startCountingProxy(registry.url);
    mirror = await startMirror({ upstreamUrl: upstream.url });
  });
  afterAll(async () => {
    await mirror?.destroy();
    await upstream?.close();
  });
  return { mirror: () => mirror, upstream: () => upstream };
}

/** The mirror's blob counters from /metrics: {miss, hit}. */
async function blobCache(mirror: MirrorProcess): Promise<{ miss: number; hit: number }> {
  const text = await (await request(`${mirror.url}/metrics`)).body.text();
  const value = (result: string) =>
    Number(new RegExp(`^mirror_cache_requests_total\\{kind="blob",result="${result}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
  return { miss: value('miss'), hit: value('hit') };
}

const amd64 = (index: SeededIndex): SeededImage =>
  index.children.find((c) => c.platform.architecture === 'amd64')!;
const blobsOf = (image: SeededImage): string[] => [image.configDigest, ...image.layerDigests];

/** Since request #`since`, the upstream was asked for the blobs of `image`, once each, and no other blob. */
function expectUpstreamBlobs(upstream: CountingProxy, image: SeededImage, since = 0): void {
  const gets = upstream.requests.slice(since).filter((r) => r.method === 'GET' && BLOB_GET.test(r.path));
  expect(gets.map((r) => /sha256:[0-9a-f]{64}/.exec(r.path)![0]).sort()).toEqual(blobsOf(image).sort());
}

describe('dockerd with registry-mirrors', () => {
  const { mirror, upstream } = useMirror();
  let dockerd: Dockerd;

  beforeAll(async () => {
    dockerd = await startDockerd({ registryMirror: mirror().url });
  });
  afterAll(async () => {
    await dockerd?.stop();
  });

  const inspect = async (ref: string) =>
    JSON.parse((await dockerd.docker(['image', 'inspect', ref])).stdout)[0] as { Id: string; RepoDigests: string[] };

  test.each([
    ['a Docker manifest list', 'multi', () => multi],
    ['an OCI index', 'oci-multi', () => ociMulti],
  ])('pulls %s of docker.io through the mirror, cold', async (_kind, name, seeded) => {
    const index = seeded();
    const before = upstream().requests.length;
    const pulled = await dockerd.docker(['pull', `library/${name}:latest`]);
    expect(pulled.stdout).toContain(`Digest: ${index.digest}`);
    const image = await inspect(`${name}:latest`);
    expect(image.RepoDigests).toEqual([`${name}@${index.digest}`]);
    expect(image.Id).toBe(amd64(index).configDigest);
    expectUpstreamBlobs(upstream(), amd64(index), before);
  });

  test('after docker rmi, the pull again is served by the mirror alone: no upstream blob GET', async () => {
    const blobGets = upstream().count('GET', BLOB_GET);
    const cache = await blobCache(mirror());
    await dockerd.docker(['rmi', 'multi:latest']);
    await expect(inspect('multi:latest')).rejects.toThrow(/No such image/);

    const pulled = await dockerd.docker(['pull', 'library/multi:latest']);
    expect(pulled.stdout).toContain(`Digest: ${multi.digest}`);
    expect((await inspect('multi:latest')).Id).toBe(amd64(multi).configDigest);
    expect(upstream().count('GET', BLOB_GET)).toBe(blobGets);
    const after = await blobCache(mirror());
    expect(after.miss).toBe(cache.miss);
    expect(after.hit - cache.hit).toBe(blobsOf(amd64(multi)).length);
  });

  test('another tag of a cached image, after docker rmi: the upstream is asked for its manifest only', async () => {
    const before = upstream().requests.length;
    await dockerd.docker(['rmi', 'multi:latest']);
    const pulled = await dockerd.docker(['pull', 'library/multi:stable']);
    expect(pulled.stdout).toContain(`Digest: ${multi.digest}`);
    const image = await inspect('multi:stable');
    expect(image.Id).toBe(amd64(multi).configDigest);
    expect(image.RepoDigests).toEqual([`multi@${multi.digest}`]);
    const asked = upstream().requests.slice(before).filter((r) => r.path.startsWith('/v2/library/'));
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((r) => r.path === '/v2/library/multi/manifests/stable')).toBe(true);
  });
});

describe('podman with a [[registry.mirror]] for docker.io', () => {
  const { mirror, upstream } = useMirror();
  let client: PodmanSandbox;

  beforeAll(() => {
    client = podmanSandbox(join(work, 'podman'), [
      '[[registry]]', 'prefix = "docker.io"', 'location = "docker.io"',
      '[[registry.mirror]]', `location = "${mirror().host}"`, 'insecure = true', '',
    ].join('\n'));
  });

  test.each([
    ['a Docker manifest list', 'multi', () => multi],
    ['an OCI index', 'oci-multi', () => ociMulti],
  ])('pulls %s of docker.io through the mirror', async (_kind, name, seeded) => {
    const index = seeded();
    const before = upstream().requests.length;
    const pulled = await client.pull(`docker.io/library/${name}:latest`);
    expect(`sha256:${pulled.stdout.trim()}`).toBe(amd64(index).configDigest);
    const image = await client.inspect(`docker.io/library/${name}:latest`);
    expect(image.RepoDigests).toContain(`docker.io/library/${name}@${index.digest}`);
    expectUpstreamBlobs(upstream(), amd64(index), before);
  });

  test('after podman rmi, the pull again asks the upstream for no blob', async () => {
    const blobGets = upstream().count('GET', BLOB_GET);
    const cache = await blobCache(mirror());
    await client.podman(['rmi', 'docker.io/library/multi:latest']);
    await client.pull('docker.io/library/multi:latest');
    expect((await client.inspect('docker.io/library/multi:latest')).RepoDigests)
      .toContain(`docker.io/library/multi@${multi.digest}`);
    expect(upstream().count('GET', BLOB_GET)).toBe(blobGets);
    expect((await blobCache(mirror())).hit - cache.hit).toBe(blobsOf(amd64(multi)).length);
  });
});

describe('containerd (ctr) with hosts.toml for docker.io', () => {
  const { mirror, upstream } = useMirror();
  let containerd: Containerd;
  let client: CountingProxy; // between ctr and the mirror: shows what ctr sent
  let hostsDir: string;

  beforeAll(async () => {
    containerd = await startContainerd();
    client = await startCountingProxy(mirror().url);
    hostsDir = join(work, 'hosts.d');
    mkdirSync(join(hostsDir, 'docker.io'), { recursive: true });
    writeFileSync(join(hostsDir, 'docker.io', 'hosts.toml'), [
      'server = "https://registry-1.docker.io"', '',
      `[host."${client.url}"]`, '  capabilities = ["pull", "resolve"]', '',
    ].join('\n'));
  });
  afterAll(async () => {
    await containerd?.stop();
    await client?.close();
  });

  test.each([
    ['a Docker manifest list', 'multi', () => multi],
    ['an OCI index', 'oci-multi', () => ociMulti],
  ])('pulls %s of docker.io through the mirror, with ?ns=docker.io on every request', async (_kind, name, seeded) => {
    const index = seeded();
    const [sent, before] = [client.requests.length, upstream().requests.length];
    await containerd.ctr([
      'images', 'pull', '--hosts-dir', hostsDir, '--snapshotter', 'native', '--platform', 'linux/amd64',
      `docker.io/library/${name}:latest`,
    ]);
    const listed = (await containerd.ctr(['images', 'ls'])).stdout;
    const row = listed.split('\n').find((l) => l.startsWith(`docker.io/library/${name}:latest `));
    expect(row?.split(/\s+/)[2]).toBe(index.digest);

    const requests = client.requests.slice(sent).filter((r) => r.path.startsWith(`/v2/library/${name}/`));
    expect(requests.length).toBeGreaterThan(0);
    for (const r of requests) expect(new URL(r.path, client.url).searchParams.get('ns')).toBe('docker.io');
    expect(requests.filter((r) => r.method === 'GET' && BLOB_GET.test(r.path))).toHaveLength(blobsOf(amd64(index)).length);
    expectUpstreamBlobs(upstream(), amd64(index), before);
  });
});
