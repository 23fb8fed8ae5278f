import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { loadConfig } from './config/load.js';
import { createCore } from './core.js';
import { DataDirLockedError, LOCK_FILE } from './storage/data-lock.js';
import type { BlobStore } from './storage/blob-store.js';
import { createFsBlobStore } from './storage/fs-blob-store.js';
import { openSqliteStorage } from './storage/sqlite-index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A config whose data dir is a fresh temp dir (not created yet: the core makes it). */
function config() {
  const dir = mkdtempSync(join(tmpdir(), 'core-'));
  dirs.push(dir);
  return loadConfig({ env: { MIRROR_STORAGE_PATH: join(dir, 'data'), MIRROR_UPSTREAM_URL: 'http://127.0.0.1:9' } });
}

describe('createCore', () => {
  test('builds storage under storage.path, with metrics counting what the event bus says', async () => {
    const c = config();
    const core = await createCore(c, { now: () => 42 });
    try {
      expect(existsSync(join(c.storage.path, 'index.db'))).toBe(true);
      expect(existsSync(join(c.storage.path, 'blobs'))).toBe(true);
      expect((await core.ports.maintenance.stats()).blobs).toBe(0);
      expect(core.upstream.config.name).toBe(c.upstream.name);
      expect(core.now()).toBe(42);
      core.events.emit('manifest.pulled', { cache: 'HIT' });
      core.events.emit('blob.checked', { cache: 'MISS' });
      expect(core.metrics.cache.manifest.HIT).toBe(1);
      expect(core.metrics.cache.blob.MISS).toBe(1);
    } finally {
      await core.close();
    }
  });

  test('one upstream client per configured upstream (own budget), the default first; close() closes them all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'core-'));
    dirs.push(dir);
    const c = loadConfig({
      env: {
        MIRROR_STORAGE_PATH: join(dir, 'data'), MIRROR_UPSTREAM_URL: 'http://127.0.0.1:9',
        MIRROR_UPSTREAMS: '[{"name":"ghcr.io","url":"http://127.0.0.1:9"},{"name":"quay.io","url":"http://127.0.0.1:9"}]',
      },
    });
    const core = await createCore(c);
    expect(core.upstreams.map((u) => u.config.name)).toEqual(['docker.io', 'ghcr.io', 'quay.io']);
    expect(core.upstreams[0]).toBe(core.upstream);
    expect(new Set(core.upstreams.map((u) => u.rateLimit)).size).toBe(3);
    await core.close();
    for (const u of core.upstreams) await expect(u.manifest('GET', 'x/y', 'latest')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', detail: { reason: 'client closed' } });
  });

  test('a default upstream rebuilt by the caller (a copy of config.upstream) is still one docker.io client, not two', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'core-'));
    dirs.push(dir);
    const c = loadConfig({
      env: {
        MIRROR_STORAGE_PATH: join(dir, 'data'), MIRROR_UPSTREAM_URL: 'http://127.0.0.1:9',
        MIRROR_UPSTREAMS: '[{"name":"ghcr.io","url":"http://127.0.0.1:9"}]',
      },
    });
    const core = await createCore({ ...c, upstream: { ...c.upstream, tagTtlMs: 1 } });
    expect(core.upstreams.map((u) => u.config.name)).toEqual(['docker.io', 'ghcr.io']);
    expect(core.upstream.config.tagTtlMs).toBe(1);
    await core.close();
  });

  test('exclusive (serve): holds the lock until closed, and removes a crashed run\'s temp files; the CLI\'s core does neither', async () => {
    const c = config();
    const cli = await createCore(c);
    writeFileSync(join(c.storage.path, 'tmp', 'crashed-upload'), 'x');
    await cli.close();
    expect(readdirSync(join(c.storage.path, 'tmp'))).toEqual(['crashed-upload']);
    expect(existsSync(join(c.storage.path, LOCK_FILE))).toBe(false);

    const serve = await createCore(c, { exclusive: true });
    expect(readdirSync(join(c.storage.path, 'tmp'))).toEqual([]);
    await expect(createCore(c, { exclusive: true })).rejects.toThrow(DataDirLockedError);
    // Beside a running server the CLI's core still opens (SQLite WAL).
    const beside = await createCore(c);
    await beside.close();
    await serve.close();
    await serve.close(); // idempotent
    expect(existsSync(join(c.storage.path, LOCK_FILE))).toBe(false);
    const again = await createCore(c, { exclusive: true });
    await again.close();
  });

  test('a failure while building releases the lock', async () => {
    const c = config();
    const real = await createFsBlobStore(c.storage.path);
    const broken: BlobStore = { ...real, cleanTemp: async () => { throw new Error('EIO'); } };
    await expect(createCore(c, { exclusive: true, store: broken })).rejects.toThrow('EIO');
    expect(existsSync(join(c.storage.path, LOCK_FILE))).toBe(false);
    const ok = await createCore(c, { exclusive: true });
    await ok.close();
  });

  test('close() writes the access bookkeeping still pending (hits and last access)', async () => {
    const c = config();
    const core = await createCore(c);
    const digest = `sha256:${'1'.repeat(64)}`;
    await core.ports.blobs.putBlob('r', { digest, size: 1, origin: 'upstream' }, 1000);
    core.access.touchBlob(digest, 4000);
    await core.close();
    const reopened = openSqliteStorage(join(c.storage.path, 'index.db'));
    try {
      const [page] = await reopened.ports.maintenance.listEvictableBlobs(1);
      expect(page).toEqual({ digest, size: 1, lastAccess: 4000, hits: 1 });
    } finally {
      reopened.close();
    }
  });

  test('overrides are used as given, and closed with the core', async () => {
    const c = config();
    const base = await createCore(c);
    let closed = 0;
    const opened = openSqliteStorage(join(c.storage.path, 'index.db'));
    const storage = { ports: opened.ports, close: () => { closed++; opened.close(); } };
    const core = await createCore(c, { storage, store: base.store, upstream: base.upstream });
    expect(core.ports).toBe(opened.ports);
    expect(core.store).toBe(base.store);
    expect(core.upstream).toBe(base.upstream);
    await core.close();
    expect(closed).toBe(1);
    await base.close().catch(() => {}); // its upstream client is closed already
  });
});
