/**
 * The server's warm-up schedule (config `warm:`): the listed images are pulled shortly
 * after start and again every interval, with tags looked up again (a moved tag brings the
 * new image); nothing more reaches the upstream once the server is closed.
 */
import { rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { mirrorAppConfig } from '../helpers/mirror-app.js';

let up: FakeUpstream;
let running: RunningServer | undefined;
let dataDir: string;

beforeEach(async () => {
  up = await startFakeUpstream();
});
afterEach(async () => {
  await running?.close();
  running = undefined;
  rmSync(dataDir, { recursive: true, force: true });
  await up.close();
});

async function until(what: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('warm schedule', () => {
  it('pulls the listed images after start, re-resolves tags each run, and stops on close', async () => {
    const v1 = up.addImage('library/alpine', '3', { layers: [Buffer.from('v1 layer')] });
    up.addImage('library/other', 'latest', { layers: [Buffer.from('not listed')] });
    const lines: string[] = [];
    const config = mirrorAppConfig(up.url, {
      MIRROR_HTTP_ADDR: '127.0.0.1:0', MIRROR_UPSTREAM_TAG_TTL: '0s', MIRROR_UPSTREAM_PREFETCH: '0',
      MIRROR_WARM_IMAGES: 'alpine:3', MIRROR_WARM_EVERY: '150ms', MIRROR_WARM_START_DELAY: '10ms',
    });
    dataDir = config.storage.path;
    running = await startServer(config, createLogger('info', (l) => lines.push(l)));

    const blobGets = () => up.count({ kind: 'blob', method: 'GET' });
    await until(() => blobGets() === 2);
    expect(up.count({ kind: 'blob', repo: 'library/other' })).toBe(0);

    // The tag moves upstream: a later run resolves it again and fetches the new image's blobs.
    const v2 = up.addImage('library/alpine', '3', { layers: [Buffer.from('v2 layer')] });
    await until(() => up.count({ kind: 'blob', method: 'GET', path: `/v2/library/alpine/blobs/${v2.layers[0]}` }) === 1);
    expect(up.count({ kind: 'blob', method: 'GET', path: `/v2/library/alpine/blobs/${v1.layers[0]}` })).toBe(1);
    await until(() => lines.some((l) => l.includes('warm-up run done')));
    expect(JSON.parse(lines.find((l) => l.includes('warm-up run done'))!)).toMatchObject({ images: 1, failed: 0 });

    await running.close();
    running = undefined;
    // No run after close: none reaches the upstream, none even starts (it would log its failures).
    const after = up.requests.length;
    const logged = lines.filter((l) => l.includes('warm-up')).length;
    await new Promise((r) => setTimeout(r, 500));
    expect(up.requests.length).toBe(after);
    expect(lines.filter((l) => l.includes('warm-up')).length).toBe(logged);
  });

  it('does nothing without images, or with every: 0', async () => {
    up.addImage('library/alpine', '3', { layers: [Buffer.from('x')] });
    const config = mirrorAppConfig(up.url, { MIRROR_HTTP_ADDR: '127.0.0.1:0', MIRROR_WARM_IMAGES: 'alpine:3', MIRROR_WARM_EVERY: '0', MIRROR_WARM_START_DELAY: '10ms' });
    dataDir = config.storage.path;
    running = await startServer(config, createLogger('silent'));
    await new Promise((r) => setTimeout(r, 300));
    expect(up.count({ kind: 'manifest' })).toBe(0);
  });
});
