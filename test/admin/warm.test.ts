/**
 * `registry-mirror warm`: images pre-pulled through the normal pull path, counted at the
 * fake upstream (each blob GET once, nothing on a second run), and the CLI's exit codes.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { warmImages } from '../../src/admin/warm.js';
import { parseImageRef } from '../../src/oci/image-ref.js';
import { createCore, type Core } from '../../src/core.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { mirrorAppConfig } from '../helpers/mirror-app.js';
import { MIRROR_MAIN } from '../helpers/mirror.js';

let up: FakeUpstream;
let core: Core;

beforeEach(async () => {
  up = await startFakeUpstream();
  core = await createCore(mirrorAppConfig(up.url));
});
afterEach(async () => {
  await core.close();
  rmSync(core.config.storage.path, { recursive: true, force: true });
  await up.close();
});

const refs = (...texts: string[]) => texts.map(parseImageRef);
const blobGets = () => up.count({ kind: 'blob', method: 'GET' });

describe('warmImages', () => {
  it('fills exactly the listed images, each blob fetched once, and a second run fetches no blob', async () => {
    const alpine = up.addImage('library/alpine', '3.20', { layers: [Buffer.from('alpine-1'), Buffer.from('shared')] });
    const busybox = up.addImage('library/busybox', 'latest', { layers: [Buffer.from('shared'), Buffer.from('busybox-1')] });
    up.addImage('library/nginx', 'latest', { layers: [Buffer.from('not listed')] });

    const first = await warmImages(core.namespace.resolver, refs('alpine:3.20', 'docker.io/library/busybox'));
    expect(first).toMatchObject({ images: 2, failed: 0, manifests: 2, blobsFetched: 5, alreadyCached: 0 });
    // config + 2 layers each, one layer shared: 5 distinct blobs, each GET once; nginx untouched.
    expect(blobGets()).toBe(5);
    expect(up.count({ kind: 'blob', repo: 'library/nginx' })).toBe(0);
    for (const d of new Set([alpine.config, ...alpine.layers, busybox.config, ...busybox.layers])) {
      expect(await core.store.stat(d), d).toBeDefined();
      expect((await core.ports.blobs.getBlob(d))?.origin).toBe('upstream');
    }
    expect(await core.ports.blobs.hasRepoBlob('docker.io/library/busybox', busybox.layers[0]!)).toBe(true);

    up.reset();
    const second = await warmImages(core.namespace.resolver, refs('alpine:3.20', 'docker.io/library/busybox'));
    expect(second).toMatchObject({ images: 2, failed: 0, blobsFetched: 0, bytesFetched: 0, alreadyCached: 5 });
    expect(blobGets()).toBe(0);
  });

  it('follows an index into every platform, or only the platforms asked for', async () => {
    const amd = up.addImage('library/multi', undefined, { layers: [Buffer.from('amd64 layer')] });
    const arm = up.addImage('library/multi', undefined, { layers: [Buffer.from('arm64 layer')] });
    const armv7 = up.addImage('library/multi', undefined, { layers: [Buffer.from('arm layer')] });
    up.addIndex('library/multi', 'latest', [amd.digest, arm.digest, armv7.digest]); // amd64, arm64, arm

    const some = await warmImages(core.namespace.resolver, refs('multi'), { platforms: ['linux/arm64'] });
    expect(some).toMatchObject({ failed: 0, manifests: 2, blobsFetched: 2 });
    expect(await core.store.stat(arm.layers[0]!)).toBeDefined();
    expect(await core.store.stat(amd.layers[0]!)).toBeUndefined();
    expect(up.count({ kind: 'manifest', path: `/v2/library/multi/manifests/${amd.digest}` })).toBe(0);

    const all = await warmImages(core.namespace.resolver, refs('multi:latest'));
    expect(all).toMatchObject({ failed: 0, manifests: 4, blobsFetched: 4, alreadyCached: 2 });
    expect(await core.store.stat(armv7.layers[0]!)).toBeDefined();
  });

  it('counts an image the upstream does not have as a failure and warms the others', async () => {
    up.addImage('library/alpine', '3.20', { layers: [Buffer.from('a')] });
    const seen: string[] = [];
    const summary = await warmImages(core.namespace.resolver, refs('alpine:3.20', 'alpine:9.99'), { onImage: (r) => seen.push(`${r.image} ${r.ok}`) });
    expect(summary).toMatchObject({ images: 2, failed: 1, blobsFetched: 2 });
    expect(summary.failures).toEqual([{ image: 'alpine:9.99', error: expect.stringMatching(/^MANIFEST_UNKNOWN/) }]);
    expect(seen.sort()).toEqual(['alpine:3.20 true', 'alpine:9.99 false']);
  });

  it('keeps to the concurrency bound for blob reads', async () => {
    up.addImage('library/wide', 'latest', { layers: Array.from({ length: 8 }, (_, i) => Buffer.from(`layer ${i}`)) });
    up.faults.delayMs = 50;
    const core1 = await createCore({ ...core.config, upstream: { ...core.config.upstream, prefetch: 0 }, upstreams: [] });
    try {
      const s = await warmImages(core1.namespace.resolver, refs('wide'), { concurrency: 2 });
      expect(s).toMatchObject({ failed: 0, blobsFetched: 9 });
      expect(up.maxInFlight('blob')).toBeLessThanOrEqual(2);
    } finally {
      await core1.close();
    }
  });
});

describe('registry-mirror warm (CLI)', () => {
  const run = promisify(execFile);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'warm-cli-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const cli = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [MIRROR_MAIN, 'warm', ...args], {
        env: { PATH: process.env.PATH ?? '', MIRROR_STORAGE_PATH: join(dir, 'data'), MIRROR_UPSTREAM_URL: up.url, MIRROR_LOG_LEVEL: 'warn' },
        cwd: dir,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('reads a file of images, prints a line per image and a JSON summary, exit 0', async () => {
    up.addImage('library/alpine', '3.20', { layers: [Buffer.from('a')] });
    up.addImage('library/busybox', 'latest', { layers: [Buffer.from('b')] });
    writeFileSync(join(dir, 'images.txt'), '# base images\nalpine:3.20\n\nbusybox   # latest\n');
    const r = await cli('images.txt');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ images: 2, failed: 0, blobsFetched: 4, alreadyCached: 0 });
    expect(r.stderr).toMatch(/^warmed image=alpine:3\.20 digest=sha256:[0-9a-f]{64} manifests=1 blobs=2 fetched=2 bytes=\d+$/m);
    expect(r.stderr).toMatch(/^warmed image=busybox /m);
    expect(r.stderr).toMatch(/^warm: 2 image\(s\), 0 failed; 4 blob\(s\) fetched/m);
  });

  it('exits 1 with the summary when an image cannot be pulled', async () => {
    up.addImage('library/alpine', '3.20', { layers: [Buffer.from('a')] });
    const r = await cli('alpine:3.20', 'alpine:nope');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ images: 2, failed: 1, failures: [{ image: 'alpine:nope' }] });
    expect(r.stderr).toMatch(/^failed image=alpine:nope error="MANIFEST_UNKNOWN/m);
  });

  it('exits 2 on a bad reference, a bad line in a file or an unknown registry, fetching nothing', async () => {
    writeFileSync(join(dir, 'list'), 'alpine\nAlpine:3.20:x\n');
    for (const args of [['alpine:bad tag'], ['list'], ['ghcr.io/owner/app'], [], ['alpine', '--platform', 'amd64']]) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
    }
    expect(up.count({ kind: 'manifest' })).toBe(0);
  });
});
