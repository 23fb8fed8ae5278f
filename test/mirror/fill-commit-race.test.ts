/**
 * The moment a fill commits: a client whose disk check ran just before the blob was
 * recorded, and whose look for a running fill came just after the fill was done, must be
 * served from the cache — never start a second upstream GET of the same blob.
 */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, expect, test } from 'vitest';
import { ensurePrivateFile } from '../../src/storage/fs-ops.js';
import { openSqliteStorage } from '../../src/storage/sqlite-index.js';
import type { StoragePorts } from '../../src/storage/ports.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { mirrorAppConfig, startMirrorAppWith, type MirrorApp } from '../helpers/mirror-app.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let up: FakeUpstream | undefined;
let mirror: MirrorApp | undefined;
afterEach(async () => {
  await mirror?.close();
  await up?.close();
});

test('a GET whose disk check raced the fill\'s commit is served from the cache: still 1 upstream GET', async () => {
  up = await startFakeUpstream();
  const bytes = randomBytes(512 * 1024);
  const digest = sha256(bytes);
  up.addImage('library/app', undefined, { layers: [bytes] });
  const config = mirrorAppConfig(up.url, { MIRROR_UPSTREAM_PREFETCH: '0' });
  ensurePrivateFile(join(config.storage.path, 'index.db'));
  const storage = openSqliteStorage(join(config.storage.path, 'index.db'));
  /** While set, a lookup of the blob's row answers what it read only once the fill is done. */
  let stale: Promise<void> | undefined;
  const ports: StoragePorts = {
    ...storage.ports,
    blobs: {
      ...storage.ports.blobs,
      async getBlob(d) {
        const row = await storage.ports.blobs.getBlob(d);
        if (stale && d === digest) await stale;
        return row;
      },
    },
  };
  mirror = await startMirrorAppWith(config, { storage: { ports, close: storage.close } });
  const m = mirror;
  // A fill that takes a while, so the second client arrives while it runs.
  up.faults.throttle = { bytesPerChunk: 64 * 1024, intervalMs: 20 };
  const fetchBlob = () => request(`${m.url}/v2/library/app/blobs/${digest}`).then(async (r) => ({ status: r.statusCode, body: Buffer.from(await r.body.arrayBuffer()) }));
  const first = fetchBlob();
  while (m.metrics.upstreamRequests.blob_get === 0) await new Promise((resolve) => setTimeout(resolve, 2));
  // The second client looks at the disk (no row yet) while the first one's fill runs...
  let fillDone!: () => void;
  stale = new Promise<void>((resolve) => { fillDone = resolve; });
  const second = fetchBlob();
  const a = await first;
  // ...and goes on only after the fill committed, recorded the blob and left the in-flight map.
  await new Promise((resolve) => setTimeout(resolve, 20));
  fillDone();
  const b = await second;
  stale = undefined;
  expect(a.status).toBe(200);
  expect(b.status).toBe(200);
  expect(sha256(a.body)).toBe(digest);
  expect(sha256(b.body)).toBe(digest);
  const answered = up.count({ method: 'GET', kind: 'blob', path: new RegExp(digest) }) - up.count({ method: 'GET', kind: 'blob', path: new RegExp(digest), status: 401 });
  expect(answered).toBe(1);
});
