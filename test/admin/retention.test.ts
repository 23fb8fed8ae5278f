/**
 * Background retention (issue 11, item 2) on a mirror against the fake upstream: the job
 * brings a cache past storage.max_size under the low watermark least recently pulled
 * first, never cuts or removes a blob a client is streaming, leaves pushed content, and
 * evicts by max_age on the mirror's clock. An evicted blob pulls again from the upstream.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { startCoreRetention, type RetentionJob } from '../../src/admin/retention.js';
import { createCore, type Core } from '../../src/core.js';
import { createApp } from '../../src/http/app.js';
import { silentLogger } from '../../src/log/logger.js';
import { parseDigest } from '../../src/oci/digest.js';
import { startServer } from '../../src/server.js';
import { blobPath } from '../../src/storage/fs-blob-store.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { mirrorAppConfig } from '../helpers/mirror-app.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const KIB = 1024;
const MINUTE = 60_000;
const DAY = 86_400_000;

let up: FakeUpstream;
let core: Core | undefined;
let server: Server | undefined;
let job: RetentionJob | undefined;
let url: string;
let clock: number;

beforeEach(async () => {
  up = await startFakeUpstream();
  clock = 1_800_000_000_000;
});
afterEach(async () => {
  await job?.stop();
  server?.closeAllConnections();
  if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
  if (core) {
    await core.close();
    rmSync(core.config.storage.path, { recursive: true, force: true });
  }
  job = undefined;
  server = undefined;
  core = undefined;
  await up.close();
});

/** The mirror with these MIRROR_* retention settings; the job is started by the test (as `serve` does at start). */
async function startMirror(env: Record<string, string>): Promise<void> {
  core = await createCore(mirrorAppConfig(up.url, { MIRROR_STORAGE_RETENTION_INTERVAL: '1h', ...env }), { now: () => clock });
  const s = createServer(createApp(core).listener);
  server = s;
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

/** One image per repository with one layer of `size` bytes; its layer digest and bytes. */
function addLayer(repo: string, size: number): { digest: string; bytes: Buffer } {
  const bytes = randomBytes(size);
  up.addImage(repo, 'v1', { layers: [bytes] });
  return { digest: sha256(bytes), bytes };
}

async function pull(repo: string, digest: string): Promise<{ status: number; cache: unknown; digest: string }> {
  const res = await request(`${url}/v2/${repo}/blobs/${digest}`);
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, cache: res.headers['x-cache'], digest: sha256(body) };
}

const cached = (digest: string) => existsSync(blobPath(core!.config.storage.path, parseDigest(digest)));
const upstreamBlobGets = (digest: string) => up.count({ method: 'GET', kind: 'blob', path: new RegExp(digest), status: 200 })
  + up.count({ method: 'GET', kind: 'blob', path: new RegExp(digest), status: 307 });

describe('background retention by size', () => {
  test('brings the cache under the low watermark least recently pulled first; an evicted blob pulls again', async () => {
    // 4 × 100 KiB = 400 KiB: above 0.9 × 400 KiB, evicted down to 0.5 × 400 KiB = two layers.
    await startMirror({ MIRROR_STORAGE_MAX_SIZE: '400KiB', MIRROR_STORAGE_HIGH_WATERMARK: '0.9', MIRROR_STORAGE_LOW_WATERMARK: '50%' });
    const repos = ['library/a', 'library/b', 'library/c', 'library/d'];
    const layers = repos.map((r) => addLayer(r, 100 * KIB));
    for (const [i, r] of repos.entries()) expect((await pull(r, layers[i]!.digest)).cache).toBe('MISS');
    // Pulled again in the order c, a, d, b: c is now the least recently used, b the most.
    for (const i of [2, 0, 3, 1]) {
      clock += MINUTE;
      expect((await pull(repos[i]!, layers[i]!.digest)).cache).toBe('HIT');
    }

    job = startCoreRetention(core!);
    const summary = await job.run();

    expect(summary).toMatchObject({ evicted: 2, bytesFreed: 200 * KIB, remainingBytes: 200 * KIB, skippedInUse: 0 });
    expect(layers.map((l) => cached(l.digest))).toEqual([false, true, false, true]);
    expect((await core!.ports.maintenance.stats()).blobBytes).toBe(200 * KIB);
    expect(core!.metrics.retention).toMatchObject({ runs: 1, blobsEvicted: 2, bytesEvicted: 200 * KIB });
    expect(core!.metrics.retention.lastRun).toMatchObject({ evicted: 2, bytesFreed: 200 * KIB });
    // /admin/stats shows the last run (loopback callers are admins when none are configured).
    const stats = await (await request(`${url}/admin/stats`)).body.json() as { retention: { lastRun: { evicted: number } } };
    expect(stats.retention.lastRun.evicted).toBe(2);

    const before = upstreamBlobGets(layers[2]!.digest);
    const again = await pull(repos[2]!, layers[2]!.digest);
    expect(again).toEqual({ status: 200, cache: 'MISS', digest: layers[2]!.digest });
    expect(upstreamBlobGets(layers[2]!.digest)).toBe(before + 1);
  });

  test('a fill that takes the cache past the high watermark starts a run by itself', async () => {
    await startMirror({ MIRROR_STORAGE_MAX_SIZE: '250KiB', MIRROR_STORAGE_HIGH_WATERMARK: '0.9', MIRROR_STORAGE_LOW_WATERMARK: '0.5' });
    job = startCoreRetention(core!);
    await job.run();
    const a = addLayer('library/a', 100 * KIB);
    const b = addLayer('library/b', 100 * KIB);
    const c = addLayer('library/c', 100 * KIB);
    await pull('library/a', a.digest);
    clock += MINUTE;
    await pull('library/b', b.digest);
    expect(core!.metrics.retention.runs).toBe(0); // 200 KiB: under 225 KiB, nothing to do
    clock += MINUTE;
    await pull('library/c', c.digest);
    await expect.poll(() => core!.metrics.retention.runs).toBe(1);
    await job.run();
    // Down to 125 KiB: a and b (the oldest) went, c stays.
    expect([a, b, c].map((l) => cached(l.digest))).toEqual([false, false, true]);
    expect(core!.metrics.retention.lastRun?.reason).toBe('high watermark');
  });

  test('a blob being streamed to a client is skipped (counted), not cut, and survives; pushed content stays', async () => {
    await startMirror({ MIRROR_STORAGE_MAX_SIZE: '1KiB' });
    const big = addLayer('library/big', 32 * 1024 * KIB);
    const small = addLayer('library/small', 10 * KIB);
    expect((await pull('library/big', big.digest)).status).toBe(200);
    clock += MINUTE;
    await pull('library/small', small.digest);
    // Pushed content: a blob in a local repository, older than everything mirrored.
    const pushedBytes = randomBytes(4 * KIB);
    const w = await core!.store.createWriter();
    await w.write(pushedBytes);
    const { digest: pushed } = await w.commit(parseDigest(sha256(pushedBytes)));
    await w.close();
    await core!.ports.repositories.ensureRepository('team/app', 'local', null, clock - DAY);
    await core!.ports.blobs.putBlob('team/app', { digest: pushed, size: pushedBytes.length, origin: 'push' }, clock - DAY);

    // A client starts the big blob (a HIT from disk) and stops reading: the send is in progress.
    const res = await request(`${url}/v2/library/big/blobs/${big.digest}`);
    expect(res.headers['x-cache']).toBe('HIT');
    const hash = createHash('sha256');
    let received = 0;
    const reader = res.body[Symbol.asyncIterator]();
    const first = await reader.next();
    hash.update(first.value as Buffer);
    received += (first.value as Buffer).length;

    job = startCoreRetention(core!);
    const summary = await job.run();
    expect(summary).toMatchObject({ evicted: 1, skippedInUse: 1 });
    expect(cached(small.digest)).toBe(false);
    expect(cached(big.digest)).toBe(true);
    expect(cached(pushed)).toBe(true);
    expect(core!.metrics.retention.skippedInUse).toBe(1);

    for (let r = await reader.next(); !r.done; r = await reader.next()) {
      hash.update(r.value as Buffer);
      received += (r.value as Buffer).length;
    }
    expect(received).toBe(big.bytes.length);
    expect(`sha256:${hash.digest('hex')}`).toBe(big.digest);
    await expect.poll(() => core!.openBlobs.has(big.digest)).toBe(false);

    // Once the stream is over, the next run takes it; pushed content still stays.
    expect(await job.run()).toMatchObject({ evicted: 1, skippedInUse: 0 });
    expect(cached(big.digest)).toBe(false);
    expect(cached(pushed)).toBe(true);
  });
});

describe('background retention by age', () => {
  test('max_age evicts mirrored blobs not pulled for that long on the mirror clock', async () => {
    await startMirror({ MIRROR_STORAGE_MAX_AGE: '7d' });
    const a = addLayer('library/a', 10 * KIB);
    const b = addLayer('library/b', 10 * KIB);
    await pull('library/a', a.digest);
    await pull('library/b', b.digest);
    job = startCoreRetention(core!);
    expect(await job.run()).toMatchObject({ evicted: 0 });

    clock += 6 * DAY;
    expect((await pull('library/b', b.digest)).cache).toBe('HIT');
    clock += 2 * DAY; // a: 8 days idle, b: 2 days
    expect(await job.run()).toMatchObject({ evicted: 1, bytesFreed: 10 * KIB });
    expect([cached(a.digest), cached(b.digest)]).toEqual([false, true]);
  });

  test('off when neither max_size nor max_age is set: a run does nothing', async () => {
    await startMirror({});
    const a = addLayer('library/a', 10 * KIB);
    await pull('library/a', a.digest);
    clock += 400 * DAY;
    job = startCoreRetention(core!);
    expect(await job.run()).toBeUndefined();
    expect(cached(a.digest)).toBe(true);
    expect(core!.metrics.retention.runs).toBe(0);
  });
});

describe('the server runs retention', () => {
  test('right after start: blobs not pulled for max_age are evicted by `serve` without a command', async () => {
    // Filled by a mirror whose clock is 10 days behind, then served with max_age 7d.
    clock = Date.now() - 10 * DAY;
    await startMirror({});
    const a = addLayer('library/a', 10 * KIB);
    await pull('library/a', a.digest);
    const config = { ...core!.config, http: { ...core!.config.http, host: '127.0.0.1', port: 0 } };
    server!.closeAllConnections();
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    await core!.close();
    const dataDir = core!.config.storage.path;
    core = undefined;
    expect(existsSync(blobPath(dataDir, parseDigest(a.digest)))).toBe(true);

    const running = await startServer({ ...config, storage: { ...config.storage, retention: { ...config.storage.retention, maxAgeMs: 7 * DAY } } }, silentLogger);
    try {
      await expect.poll(() => existsSync(blobPath(dataDir, parseDigest(a.digest))), { timeout: 5000 }).toBe(false);
      const stats = await (await request(`http://127.0.0.1:${running.port}/admin/stats`)).body.json() as { retention: { runs: number; lastRun: { reason: string; evicted: number } } };
      expect(stats.retention).toMatchObject({ runs: 1, lastRun: { reason: 'start', evicted: 1 } });
    } finally {
      await running.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
