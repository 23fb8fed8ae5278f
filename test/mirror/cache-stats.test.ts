/**
 * Issue 11, item 1: the cache stats of /admin/stats (`cache`) and `registry-mirror stats`
 * after a scripted sequence of pulls through the fake upstream (hits, misses, stale,
 * revalidated, bytes saved), across a restart on the same data dir, and the CLI reading
 * the same persisted figures from the index without the server.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CacheFigures, CacheReport } from '../../src/admin/stats.js';
import type { Config } from '../../src/config/schema.js';
import { createCore } from '../../src/core.js';
import { createApp } from '../../src/http/app.js';
import { startFakeUpstream, type FakeImage, type FakeUpstream } from '../helpers/fake-upstream.js';
import { mirrorAppConfig } from '../helpers/mirror-app.js';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const TTL = 60_000;
const REPO = 'docker.io/library/app';

let up: FakeUpstream;
let config: Config;
let image: FakeImage;
let clock = Date.now();
let running: { url: string; stop(): Promise<void> } | undefined;

/** The mirror on the test's data dir; stop() closes it like a shutdown (the data stays). */
async function start(): Promise<{ url: string; stop(): Promise<void> }> {
  const core = await createCore(config, { now: () => clock });
  const { listener, stop } = createApp(core);
  const server: Server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await stop();
      await core.close();
    },
  };
}

async function get(path: string): Promise<{ status: number; cache: unknown; body: Buffer }> {
  const res = await request(`${running!.url}${path}`);
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, cache: res.headers['x-cache'], body };
}

type Stats = { cache: CacheReport & { process: CacheFigures } };
const adminStats = async (): Promise<Stats> => JSON.parse((await get('/admin/stats')).body.toString()) as Stats;

/** `registry-mirror stats ARGS` as a user runs it, on the test's data dir. */
async function cli(...args: string[]): Promise<string> {
  const cwd = mkdtempSync(join(tmpdir(), 'stats-cli-'));
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [MAIN, 'stats', ...args], {
      cwd, env: { PATH: process.env.PATH, MIRROR_STORAGE_PATH: config.storage.path, MIRROR_UPSTREAM_URL: up.url, MIRROR_LOG_LEVEL: 'error' },
    });
    return stdout;
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

const results = (hit: number, miss: number, stale: number, revalidated: number) => ({ hit, miss, stale, revalidated });

beforeAll(async () => {
  up = await startFakeUpstream();
  // No eager prefetch: every blob pull below is the test's own, so each result is exact.
  config = mirrorAppConfig(up.url, { MIRROR_UPSTREAM_TAG_TTL: '60s', MIRROR_UPSTREAM_TIMEOUT: '1s', MIRROR_UPSTREAM_PREFETCH: '0' });
  image = up.addImage('library/app', 'latest', { layers: [randomBytes(1000), randomBytes(3000)], mediaType: 'docker' });
  running = await start();
});
afterAll(async () => {
  await running?.stop();
  await up?.close();
  rmSync(config.storage.path, { recursive: true, force: true });
});

describe('cache stats', () => {
  let first: Stats;

  test('a scripted sequence of pulls: exact hits, misses, stale, revalidated and bytes saved', async () => {
    const manifest = '/v2/library/app/manifests/latest';
    const blob = `/v2/library/app/blobs/${image.layers[0]}`;
    expect((await get(manifest)).cache).toBe('MISS');
    expect((await get(manifest)).cache).toBe('HIT');
    expect((await get(blob)).body.length).toBe(1000);
    expect((await get(blob)).cache).toBe('HIT');
    clock += TTL + 1;
    expect((await get(manifest)).cache).toBe('REVALIDATED');
    clock += TTL + 1;
    up.faults.down = true;
    expect((await get(manifest)).cache).toBe('STALE');
    up.faults.down = false;

    first = await adminStats();
    const p = first.cache.process;
    expect(p.manifest).toEqual(results(1, 1, 1, 1));
    expect(p.blob).toEqual(results(1, 1, 0, 0));
    expect({ hits: p.hits, misses: p.misses, stale: p.stale, revalidated: p.revalidated }).toEqual({ hits: 2, misses: 2, stale: 1, revalidated: 1 });
    expect(p.hitRatio).toBe(0.6667);
    expect({ served: p.bytesServed, upstream: p.bytesFromUpstream, saved: p.bytesSaved }).toEqual({ served: 2000, upstream: 1000, saved: 1000 });
    const docker = p.upstreams['docker.io']!;
    // Manifest GET, the revalidating HEAD, the blob GET, and the failed HEAD of the stale answer.
    expect(docker.requests).toBeGreaterThanOrEqual(4);
    expect(docker.errors).toBeGreaterThanOrEqual(1);
    expect(docker.bytes).toBe(1000);

    // The endpoint flushed first: what is persisted is this process's lifetime so far.
    expect(first.cache.allTime).toEqual(p);
    expect(first.cache.lastDay).toEqual(p);
    expect(first.cache.counts).toEqual({ blobs: 1, manifests: 1, tags: 1, repositories: 1 });
    expect(first.cache.disk).toEqual({ blobBytes: 1000, mirrored: 1000, pushed: 0, manifestBytes: image.manifest.length, byUpstream: { 'docker.io': 1000 } });
    expect(first.cache.topRepositories).toEqual({
      byBytes: [{ repo: REPO, bytes: 1000, pulls: 4 }], byPulls: [{ repo: REPO, bytes: 1000, pulls: 4 }],
    });
    expect(first.cache.oldestAccess).not.toBeNull();
  });

  test('a restart on the same data dir keeps the persisted figures; the process ones start again', async () => {
    await running!.stop();
    running = await start();
    // The stale answer left the tag unconfirmed, and the upstream is back: one HEAD.
    expect((await get('/v2/library/app/manifests/latest')).cache).toBe('REVALIDATED');

    const after = await adminStats();
    expect(after.cache.process.manifest).toEqual(results(0, 0, 0, 1));
    expect(after.cache.process.blob).toEqual(results(0, 0, 0, 0));
    const all = after.cache.allTime;
    expect(all.manifest).toEqual(results(1, 1, 1, 2));
    expect(all.blob).toEqual(results(1, 1, 0, 0));
    expect({ hits: all.hits, misses: all.misses, stale: all.stale, revalidated: all.revalidated }).toEqual({ hits: 2, misses: 2, stale: 1, revalidated: 2 });
    expect(all.hitRatio).toBe(0.7143);
    expect({ served: all.bytesServed, upstream: all.bytesFromUpstream, saved: all.bytesSaved }).toEqual({ served: 2000, upstream: 1000, saved: 1000 });
    expect(after.cache.topRepositories.byPulls).toEqual([{ repo: REPO, bytes: 1000, pulls: 5 }]);
  });

  test('`registry-mirror stats --json` reads the same persisted figures from the index', async () => {
    const endpoint = (await adminStats()).cache;
    const json = JSON.parse(await cli('--json')) as Record<string, unknown>;
    const { process: _live, lastHour, ...persisted } = endpoint;
    const { lastHour: cliLastHour, ...cliRest } = json;
    expect(cliRest).toEqual({ ...persisted, process: 'n/a', fillsInProgress: 'n/a', rateLimit: 'n/a' });
    // The CLI's clock is the real one: the same hour's bucket unless the test's clock
    // (a couple of minutes ahead) sits across an hour boundary from it.
    expect([JSON.stringify(lastHour), JSON.stringify({ ...lastHour, ...EMPTY })]).toContain(JSON.stringify(cliLastHour));
  });

  test('`registry-mirror stats --table` prints the readable table, also in a pipe', async () => {
    const out = await cli('--table');
    expect(out).toMatch(/^Disk\n/);
    expect(out).toMatch(/^ {2}mirrored +1000 B$/m);
    expect(out).toMatch(/^ {2}all time +2 +2 +1 +2 +71\.4% +2\.0 KiB +1000 B +1000 B$/m);
    expect(out).toMatch(new RegExp(`^ {2}${REPO.replace(/\./g, '\\.')} +1000 B +5$`, 'm'));
    expect(out).not.toContain('{');
  });
});

/** The figures of an empty bucket. */
const EMPTY: CacheFigures = {
  hits: 0, misses: 0, stale: 0, revalidated: 0, hitRatio: null, manifest: results(0, 0, 0, 0), blob: results(0, 0, 0, 0),
  bytesServed: 0, bytesFromUpstream: 0, bytesSaved: 0, upstreams: {},
};
