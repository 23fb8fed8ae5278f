/**
 * Issue 10 with real clients: one mirror serving two registries — docker.io (a real
 * Distribution behind token auth) and "registry.lab.example" (a second Distribution) —
 * configured by MIRROR_UPSTREAMS. containerd (hosts.toml naming the mirror for both hosts)
 * asks with ?ns=<host>; podman (two [[registry]] entries, the second mirrored with a path
 * prefix) asks /v2/registry.lab.example/... Neither registry name resolves and the proxy
 * env is dead, so an image with the seeded digest can only have come through the mirror.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { startContainerd, type Containerd } from '../helpers/dockerd.js';
import { startMirror, type MirrorProcess } from '../helpers/mirror.js';
import { podmanSandbox } from '../helpers/podman.js';
import { seedMultiArch, type SeededImage, type SeededIndex } from '../helpers/seed.js';

const LAB = 'registry.lab.example';

let hubRegistry: Distribution;
let labRegistry: Distribution;
let hubImage: SeededIndex;
let labImage: SeededIndex;
let mirror: MirrorProcess;
let work: string;

const amd64 = (index: SeededIndex): SeededImage => index.children.find((c) => c.platform.architecture === 'amd64')!;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'many-upstreams-clients-'));
  [hubRegistry, labRegistry] = await Promise.all([startDistribution({ tokenAuth: true }), startDistribution()]);
  [hubImage, labImage] = await Promise.all([
    seedMultiArch(hubRegistry, 'library/hubimg', 'latest', { mediaType: 'docker' }),
    seedMultiArch(labRegistry, 'team/tool', 'latest', { mediaType: 'oci' }),
  ]);
  mirror = await startMirror({
    upstreamUrl: hubRegistry.url,
    env: { MIRROR_UPSTREAMS: JSON.stringify([{ name: LAB, url: labRegistry.url }]) },
  });
}, 120_000);

afterAll(async () => {
  await mirror?.destroy();
  await Promise.all([hubRegistry?.stop(), labRegistry?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('containerd (ctr) with hosts.toml naming the mirror for docker.io and a second registry', () => {
  let containerd: Containerd;
  let client: CountingProxy; // between ctr and the mirror: shows what ctr sent
  let hostsDir: string;

  beforeAll(async () => {
    containerd = await startContainerd();
    client = await startCountingProxy(mirror.url);
    hostsDir = join(work, 'hosts.d');
    for (const [host, server] of [['docker.io', 'https://registry-1.docker.io'], [LAB, `https://${LAB}`]] as const) {
      mkdirSync(join(hostsDir, host), { recursive: true });
      writeFileSync(join(hostsDir, host, 'hosts.toml'), [
        `server = "${server}"`, '', `[host."${client.url}"]`, '  capabilities = ["pull", "resolve"]', '',
      ].join('\n'));
    }
  });
  afterAll(async () => {
    await containerd?.stop();
    await client?.close();
  });

  test.each([
    ['docker.io', 'docker.io/library/hubimg:latest', '/v2/library/hubimg/', () => hubImage],
    [LAB, `${LAB}/team/tool:latest`, '/v2/team/tool/', () => labImage],
  ])('pulls from %s through the mirror with ?ns= on every request; the digest is the upstream\'s', async (ns, ref, path, seeded) => {
    const sent = client.requests.length;
    await containerd.ctr(['images', 'pull', '--hosts-dir', hostsDir, '--snapshotter', 'native', '--platform', 'linux/amd64', ref]);
    const listed = (await containerd.ctr(['images', 'ls'])).stdout;
    const row = listed.split('\n').find((l) => l.startsWith(`${ref} `));
    expect(row?.split(/\s+/)[2]).toBe(seeded().digest);
    const requests = client.requests.slice(sent).filter((r) => r.path.startsWith(path));
    expect(requests.length).toBeGreaterThan(0);
    for (const r of requests) expect(new URL(r.path, client.url).searchParams.get('ns')).toBe(ns);
  });
});

describe('podman with two [[registry]] entries mirrored to us (the second by path prefix)', () => {
  test('pulls docker.io and registry.lab.example images; image IDs and repo digests are the upstreams\'', async () => {
    const client = podmanSandbox(join(work, 'podman'), [
      '[[registry]]', 'prefix = "docker.io"', 'location = "docker.io"',
      '[[registry.mirror]]', `location = "${mirror.host}"`, 'insecure = true', '',
      '[[registry]]', `prefix = "${LAB}"`, `location = "${LAB}"`,
      '[[registry.mirror]]', `location = "${mirror.host}/${LAB}"`, 'insecure = true', '',
    ].join('\n'));
    for (const [ref, repo, index] of [
      ['docker.io/library/hubimg:latest', 'docker.io/library/hubimg', hubImage],
      [`${LAB}/team/tool:latest`, `${LAB}/team/tool`, labImage],
    ] as const) {
      const pulled = await client.pull(ref);
      expect(`sha256:${pulled.stdout.trim()}`).toBe(amd64(index).configDigest);
      expect((await client.inspect(ref)).RepoDigests).toContain(`${repo}@${index.digest}`);
    }
  });
});
