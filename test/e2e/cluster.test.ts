/**
 * Issue 13, end to end: three real replicas (`node dist/main.js serve`) on one radosgw
 * bucket and one PostgreSQL database, the cluster.* keys set, a Distribution 2.8 upstream
 * with token auth behind a forwarder that counts blob GETs and can slow them down.
 * One cluster for the whole file (CI has 2 cores); small blobs except where a fill must
 * last long enough to watch or to kill.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CLUSTER_USER, startCluster, type Cluster, type ReplicaProcess } from '../helpers/cluster-processes.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { deterministicBytes } from '../helpers/layers.js';
import { MIRROR_MAIN } from '../helpers/mirror.js';
import { startPacedProxy, type PacedProxy } from '../helpers/paced-proxy.js';
import { startTcpRoundRobin, type TcpRoundRobin } from '../helpers/tcp-round-robin.js';
import { MediaTypes, pushBlob, seedImage, sha256, type SeededImage } from '../helpers/seed.js';
import { fileSha256, readDirImage, skopeoCopy } from '../helpers/skopeo.js';

const MiB = 1024 * 1024;
const BASIC = `Basic ${Buffer.from(`${CLUSTER_USER.username}:${CLUSTER_USER.password}`).toString('base64')}`;
const CREDS = `${CLUSTER_USER.username}:${CLUSTER_USER.password}`;

let registry: Distribution;
let upstream: PacedProxy;
let cluster: Cluster;
let lb: TcpRoundRobin;
let work: string;
let image: SeededImage;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cluster-e2e-'));
  registry = await startDistribution({ tokenAuth: true });
  image = await seedImage(registry, 'library/app', '1', {
    layers: [{ size: 512 * 1024, seed: 'cluster-app-0' }, { size: 64 * 1024, seed: 'cluster-app-1' }],
  });
  upstream = await startPacedProxy(registry.url);
  cluster = await startCluster({ upstreamUrl: upstream.url });
  lb = await startTcpRoundRobin(cluster.replicas.map((r) => r.port));
}, 180_000);

afterAll(async () => {
  await lb?.close();
  await cluster?.stop();
  await upstream?.close();
  await registry?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A raw (non-tar) blob of `size` deterministic bytes pushed to the upstream under `repo`. */
async function upstreamBlob(repo: string, size: number, seed: string): Promise<{ bytes: Buffer; digest: string }> {
  const bytes = deterministicBytes(size, seed);
  const { digest } = await pushBlob(registry, repo, bytes);
  return { bytes, digest };
}

interface Fetched { status: number; digest: string; size: number; firstByteAt: number }

/** GET a blob from one replica, hashing it as it arrives; when the first body byte came. */
async function fetchBlob(replica: ReplicaProcess | TcpRoundRobin, path: string): Promise<Fetched> {
  const res = await request(`${replica.url}${path}`);
  const hash = createHash('sha256');
  let firstByteAt = NaN;
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    if (size === 0) firstByteAt = performance.now();
    size += chunk.length;
    hash.update(chunk);
  }
  return { status: res.statusCode, digest: `sha256:${hash.digest('hex')}`, size, firstByteAt };
}

async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** POST then PUT ?digest= with the whole blob, as alice (Basic on every request). */
async function pushMonolithic(replica: ReplicaProcess, repo: string, bytes: Buffer): Promise<void> {
  const start = await request(`${replica.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { authorization: BASIC } });
  await start.body.dump();
  expect(start.statusCode).toBe(202);
  const at = new URL(String(start.headers.location), replica.url);
  at.searchParams.set('digest', sha256(bytes));
  const put = await request(at, { method: 'PUT', body: bytes, headers: { authorization: BASIC, 'content-type': 'application/octet-stream' } });
  expect(put.statusCode, await put.body.text()).toBe(201);
}

const hexOf = (digest: string) => digest.slice('sha256:'.length);

describe('three replicas on one bucket and one database', () => {
  test('10 clients over 3 replicas ask for one cold blob: one upstream GET, 10 verified copies, first bytes before the fill ends', async () => {
    const { bytes, digest } = await upstreamBlob('library/herd', 8 * MiB, 'cluster-herd');
    upstream.setRate(4 * MiB); // a fill of ~2 s: long enough for the peers to join it
    try {
      const path = `/v2/library/herd/blobs/${digest}`;
      // The first client starts the fill; the rest join while it runs, spread over the replicas.
      const first = fetchBlob(cluster.replicas[0]!, path);
      await until(() => upstream.requests.some((r) => r.path.includes(digest) && r.status === 200), 10_000, 'the fill to start');
      const rest = Array.from({ length: 9 }, (_, i) => fetchBlob(cluster.replicas[(i + 1) % 3]!, path));
      const results = await Promise.all([first, ...rest]);
      for (const r of results) {
        expect(r.status).toBe(200);
        expect(r.size).toBe(bytes.length);
        expect(r.digest).toBe(digest);
      }
      expect(upstream.blobGets(digest)).toBe(1);
      const fillEnded = upstream.blobGetRequests(digest)[0]!.endedAt!;
      // Clients of the other replicas stream the fill as it arrives: none waited for its end.
      for (const r of results) expect(r.firstByteAt).toBeLessThan(fillEnded);
    } finally {
      upstream.setRate(0);
    }
  });

  test('skopeo copies the image through each replica with identical manifest and layer digests; one upstream GET per blob', async () => {
    for (const replica of cluster.replicas) {
      const dest = join(work, `app-${replica.index}`);
      const copied = await skopeoCopy(`docker://${replica.host}/library/app:1`, `dir:${dest}`);
      expect(copied.digest).toBe(image.digest);
      const dir = readDirImage(dest);
      expect(dir.digest).toBe(image.digest);
      for (const d of [image.configDigest, ...image.layerDigests]) expect(await fileSha256(dir.blobPath(d))).toBe(d);
    }
    for (const d of [image.configDigest, ...image.layerDigests]) expect(upstream.blobGets(d)).toBe(1);
  });

  test('SIGKILL of the filling replica mid-blob: nothing partial in the bucket, another replica serves it whole, the killed one restarts and serves it', async () => {
    const { bytes, digest } = await upstreamBlob('library/crash', 12 * MiB, 'cluster-crash');
    const path = `/v2/library/crash/blobs/${digest}`;
    const [filler, other] = [cluster.replicas[0]!, cluster.replicas[1]!];
    upstream.setRate(2 * MiB);
    try {
      const doomed = fetchBlob(filler, path).catch(() => undefined);
      await until(() => upstream.requests.some((r) => r.path.includes(digest) && r.bytes >= 2 * MiB), 15_000, '2 MiB of the fill');
      await filler.kill();
      await doomed;
      expect((await cluster.blobObjects()).filter((o) => o.key.includes(hexOf(digest)))).toEqual([]);
    } finally {
      upstream.setRate(0);
    }

    const next = await fetchBlob(other, path);
    expect(next.status).toBe(200);
    expect(next.size).toBe(bytes.length);
    expect(next.digest).toBe(digest);
    // The killed fill and this one: no third.
    expect(upstream.blobGets(digest)).toBe(2);
    const objects = await cluster.blobObjects();
    for (const o of objects) expect(o.key).toMatch(/^blobs\/sha256\/[0-9a-f]{64}$/);
    expect(objects.filter((o) => o.key.includes(hexOf(digest)))).toEqual([{ key: `blobs/sha256/${hexOf(digest)}`, size: bytes.length }]);

    await filler.restart();
    const again = await fetchBlob(filler, path);
    expect(again.status).toBe(200);
    expect(again.digest).toBe(digest);
    expect(upstream.blobGets(digest)).toBe(2);
  });

  test('a chunked push whose POST, PATCHes and PUT hit different replicas; the image pulls back through another', async () => {
    const layer = deterministicBytes(3 * MiB + 17, 'cluster-push');
    const layerDigest = sha256(layer);
    const headers = { authorization: BASIC };
    const start = await request(`${cluster.replicas[0]!.url}/v2/team/raw/blobs/uploads/`, { method: 'POST', headers });
    await start.body.dump();
    expect(start.statusCode).toBe(202);
    let location = String(start.headers.location);
    const chunks = [layer.subarray(0, MiB), layer.subarray(MiB, 2 * MiB), layer.subarray(2 * MiB)];
    let offset = 0;
    for (const [i, chunk] of chunks.slice(0, 2).entries()) {
      const at = new URL(location, cluster.replicas[i + 1]!.url);
      const patch = await request(new URL(at.pathname + at.search, cluster.replicas[i + 1]!.url), {
        method: 'PATCH', body: chunk,
        headers: { ...headers, 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}` },
      });
      const text = await patch.body.text();
      expect(patch.statusCode, text).toBe(202);
      offset += chunk.length;
      expect(patch.headers.range).toBe(`0-${offset - 1}`);
      location = String(patch.headers.location);
    }
    const at = new URL(location, cluster.replicas[0]!.url);
    at.searchParams.set('digest', layerDigest);
    const put = await request(new URL(at.pathname + at.search, cluster.replicas[0]!.url), {
      method: 'PUT', body: chunks[2], headers: { ...headers, 'content-type': 'application/octet-stream' },
    });
    const putText = await put.body.text();
    expect(put.statusCode, putText).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(layerDigest);

    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerDigest] } }));
    await pushMonolithic(cluster.replicas[1]!, 'team/raw', config);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MediaTypes.ociLayer, digest: layerDigest, size: layer.length }],
    }));
    const mput = await request(`${cluster.replicas[2]!.url}/v2/team/raw/manifests/1`, {
      method: 'PUT', body: manifest, headers: { ...headers, 'content-type': MediaTypes.ociManifest },
    });
    expect(mput.statusCode, await mput.body.text()).toBe(201);

    const got = await request(`${cluster.replicas[1]!.url}/v2/team/raw/manifests/1`, { headers: { ...headers, accept: MediaTypes.ociManifest } });
    const gotBytes = Buffer.from(await got.body.arrayBuffer());
    expect(got.statusCode).toBe(200);
    expect(sha256(gotBytes)).toBe(sha256(manifest));
    const blobRes = await request(`${cluster.replicas[1]!.url}/v2/team/raw/blobs/${layerDigest}`, { headers });
    expect(sha256(Buffer.from(await blobRes.body.arrayBuffer()))).toBe(layerDigest);
  });

  test('skopeo pushes through a round-robin balancer (each connection to the next replica) and pulls back through one replica, digests equal', async () => {
    const src = join(work, 'app-push-src');
    await skopeoCopy(`docker://${cluster.replicas[0]!.host}/library/app:1`, `dir:${src}`);
    const before = [...lb.connections];
    const pushed = await skopeoCopy(`dir:${src}`, `docker://${lb.host}/team/app:1`, { extraArgs: ['--dest-creds', CREDS] });
    expect(pushed.digest).toBe(image.digest);
    // The push really went to more than one replica.
    expect(lb.connections.filter((n, i) => n > before[i]!).length).toBeGreaterThan(1);
    const dest = join(work, 'app-pulled');
    const pulled = await skopeoCopy(`docker://${cluster.replicas[2]!.host}/team/app:1`, `dir:${dest}`, { extraArgs: ['--src-creds', CREDS] });
    expect(pulled.digest).toBe(image.digest);
    const dir = readDirImage(dest);
    for (const d of [image.configDigest, ...image.layerDigests]) expect(await fileSha256(dir.blobPath(d))).toBe(d);
  });

  test('prune on one replica while another streams the blob to a slow reader: the reader gets every byte, the blob stays', async () => {
    const { bytes, digest } = await upstreamBlob('library/prune', 24 * MiB, 'cluster-prune');
    const path = `/v2/library/prune/blobs/${digest}`;
    const warm = await fetchBlob(cluster.replicas[0]!, path);
    expect(warm.digest).toBe(digest);
    // Another cached blob that nobody is reading: the prune must take this one.
    const idle = await upstreamBlob('library/prune', 64 * 1024, 'cluster-prune-idle');
    expect((await fetchBlob(cluster.replicas[2]!, `/v2/library/prune/blobs/${idle.digest}`)).digest).toBe(idle.digest);

    const res = await request(`${cluster.replicas[1]!.url}${path}`);
    expect(res.statusCode).toBe(200);
    const hash = createHash('sha256');
    let size = 0;
    let pruned: Promise<{ stdout: string }> | undefined;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      hash.update(chunk);
      if (!pruned) {
        // The reader stalls after its first bytes while replica 0 prunes everything mirrored.
        pruned = promisify(execFile)(process.execPath, [MIRROR_MAIN, 'prune', '--max-size', '0'],
          { env: cluster.replicas[0]!.env, timeout: 60_000 });
        const { stdout } = await pruned;
        const summary = JSON.parse(stdout) as { evicted: number };
        expect(summary.evicted).toBeGreaterThan(0);
        const keys = (await cluster.blobObjects()).map((o) => o.key);
        expect(keys).not.toContain(`blobs/sha256/${hexOf(idle.digest)}`);
        expect(keys).toContain(`blobs/sha256/${hexOf(digest)}`);
      }
    }
    expect(size).toBe(bytes.length);
    expect(`sha256:${hash.digest('hex')}`).toBe(digest);
  });
});
