/**
 * Storage failures (issue 7, finding 11): a full disk, an unwritable data dir or a full
 * SQLite database is answered with the storage's own OCI code (507 STORAGE_FULL, 503
 * STORAGE_UNAVAILABLE), logged with its cause, and /readyz reports it while /healthz stays
 * a liveness check. Tests run as root (chmod stops nothing), so the faults are injected
 * beneath the blob store: a real handle on /dev/full (a genuine ENOSPC from the kernel),
 * an EACCES thrown by open, an index whose writes fail with SQLITE_FULL.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createCore } from '../../src/core.js';
import { createApp } from '../../src/http/app.js';
import { createLogger } from '../../src/log/logger.js';
import { createFsBlobStore } from '../../src/storage/fs-blob-store.js';
import type { FsOps } from '../../src/storage/fs-ops.js';
import type { StoragePorts } from '../../src/storage/ports.js';
import { openSqliteStorage } from '../../src/storage/sqlite-index.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { basicAuth, createOciClient, imageManifest, makeHtpasswd, MT, sha256, type OciClient } from '../helpers/oci-client.js';

type Fault = 'none' | 'ENOSPC' | 'EACCES';

interface Harness {
  client: OciClient;
  anon: OciClient;
  up: FakeUpstream;
  dataDir: string;
  logs: string[];
  fault: { now: Fault };
  close(): Promise<void>;
}

const running: Harness[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((h) => h.close()));
});

/** The mirror on a real server, with a blob store whose new temp files can be made to fail. */
async function start(env: Record<string, string> = {}, wrapPorts?: (ports: StoragePorts) => StoragePorts): Promise<Harness> {
  const up = await startFakeUpstream();
  const dataDir = mkdtempSync(join(tmpdir(), 'mirror-storage-'));
  const htpasswd = makeHtpasswd({ alice: 'secret' });
  const config = loadConfig({
    env: {
      MIRROR_STORAGE_PATH: dataDir, MIRROR_UPSTREAM_URL: up.url, MIRROR_UPSTREAM_TIMEOUT: '3s',
      MIRROR_LOCAL_NAMESPACES: 'team/*', MIRROR_AUTH_HTPASSWD: htpasswd.file, MIRROR_LOG_ACCESS: 'false', ...env,
    },
  });
  const fault: { now: Fault } = { now: 'none' };
  const faultyOpen = (async (path: string, flags?: string, mode?: number) => {
    const isTemp = path.startsWith(join(dataDir, 'tmp'));
    if (isTemp && fault.now === 'EACCES') throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES', errno: -13 });
    // Creating still works; every write into it hits a device with no space left.
    if (isTemp && fault.now === 'ENOSPC' && flags !== 'wx') return open('/dev/full', 'r+');
    return open(path, flags, mode);
  }) as FsOps['open'];
  const store = await createFsBlobStore(dataDir, { fs: { open: faultyOpen } });
  const storage = openSqliteStorage(join(dataDir, 'index.db'));
  const ports = wrapPorts ? wrapPorts(storage.ports) : storage.ports;
  const logs: string[] = [];
  const core = await createCore(config, { store, storage: { ports, close: storage.close }, log: createLogger('info', (l) => logs.push(l)) });
  const { listener, stop } = createApp(core);
  const server: Server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const h: Harness = {
    client: createOciClient(url, basicAuth('alice', 'secret')),
    anon: createOciClient(url),
    up, dataDir, logs, fault,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await stop();
      await core.close();
      await up.close();
      htpasswd.remove();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  running.push(h);
  return h;
}

describe('disk full and unwritable data dir on push', () => {
  test('a PATCH onto a full disk answers 507 STORAGE_FULL, logged with ENOSPC; the upload is intact', async () => {
    const h = await start();
    const loc = await h.client.startUpload('team/app');
    h.fault.now = 'ENOSPC';
    const r = await h.client.call(loc, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' }, body: randomBytes(1000) });
    expect(r.status).toBe(507);
    expect(r.codes()).toEqual(['STORAGE_FULL']);
    expect(r.body.toString()).not.toContain(h.dataDir);
    expect(h.logs.join('')).toMatch(/ENOSPC/);
    h.fault.now = 'none';
    expect((await h.client.call(loc)).header('range')).toBe('0-0');
    const bytes = randomBytes(10);
    const u = new URL(loc);
    u.searchParams.set('digest', sha256(bytes));
    expect((await h.client.call(u.toString(), { method: 'PUT', body: bytes })).status).toBe(201);
  });

  test('an unwritable data dir answers 503 STORAGE_UNAVAILABLE to a push, logged with EACCES', async () => {
    const h = await start();
    h.fault.now = 'EACCES';
    const r = await h.client.call('/v2/team/app/blobs/uploads/', { method: 'POST' });
    expect(r.status).toBe(503);
    expect(r.codes()).toEqual(['STORAGE_UNAVAILABLE']);
    expect(r.body.toString()).not.toContain(h.dataDir);
    expect(h.logs.join('')).toMatch(/EACCES/);
  });

  test('a data dir where no temp file can be created (tmp/ is a file, real ENOTDIR): 503 to a push and a pull', async () => {
    const h = await start();
    const digest = h.up.addBlob(randomBytes(5000));
    await rm(join(h.dataDir, 'tmp'), { recursive: true });
    writeFileSync(join(h.dataDir, 'tmp'), '');
    const push = await h.client.call('/v2/team/app/blobs/uploads/', { method: 'POST' });
    expect(push.status).toBe(503);
    expect(push.codes()).toEqual(['STORAGE_UNAVAILABLE']);
    const pull = await h.anon.call(`/v2/library/alpine/blobs/${digest}`);
    expect(pull.status).toBe(503);
    expect(pull.codes()).toEqual(['STORAGE_UNAVAILABLE']);
    expect(h.logs.join('')).toMatch(/ENOTDIR/);
  });

  test('an unwritable data dir answers 503 STORAGE_UNAVAILABLE to a mirrored blob pull, not an upstream error', async () => {
    const h = await start();
    const digest = h.up.addBlob(randomBytes(5000));
    h.fault.now = 'EACCES';
    const r = await h.anon.call(`/v2/library/alpine/blobs/${digest}`);
    expect(r.status).toBe(503);
    expect(r.codes()).toEqual(['STORAGE_UNAVAILABLE']);
  });
});

describe('a full SQLite database', () => {
  test('a manifest PUT whose index write fails with SQLITE_FULL answers 507 STORAGE_FULL', async () => {
    const h = await start({}, (ports) => ({
      ...ports,
      manifests: {
        ...ports.manifests,
        putManifest: async () => { throw new Database.SqliteError('database or disk is full', 'SQLITE_FULL'); },
      },
    }));
    const config = await h.client.pushBlob('team/app', Buffer.from('{}'));
    const manifest = imageManifest({ config: { ...config, mediaType: MT.config }, layers: [] });
    const r = await h.client.putManifest('team/app', 'v1', manifest, MT.manifest);
    expect(r.status).toBe(507);
    expect(r.codes()).toEqual(['STORAGE_FULL']);
    expect(h.logs.join('')).toMatch(/SQLITE_FULL/);
  });
});

describe('/readyz', () => {
  test('a writable data dir with room: 200 {"status":"ready"}', async () => {
    const h = await start({ MIRROR_STORAGE_MIN_FREE: '1MiB' });
    const r = await h.anon.call('/readyz');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ status: 'ready' });
  });

  test('free space below storage.min_free: 503 naming the reason, while /healthz stays 200', async () => {
    const h = await start({ MIRROR_STORAGE_MIN_FREE: '1000000TiB' });
    const r = await h.anon.call('/readyz');
    expect(r.status).toBe(503);
    expect(r.json<{ reason: string }>().reason).toMatch(/nearly full/);
    expect((await h.anon.call('/healthz')).status).toBe(200);
  });

  test('storage.min_free as a percent: 100% can never be met', async () => {
    const h = await start({ MIRROR_STORAGE_MIN_FREE: '100%' });
    expect((await h.anon.call('/readyz')).status).toBe(503);
  });

  test('a data dir where no file can be created: 503 "not writable"', async () => {
    const h = await start({ MIRROR_STORAGE_MIN_FREE: '1MiB' });
    // tmp/ replaced by a plain file: creating the probe fails (ENOTDIR) even for root.
    await rm(join(h.dataDir, 'tmp'), { recursive: true });
    writeFileSync(join(h.dataDir, 'tmp'), '');
    const r = await h.anon.call('/readyz');
    expect(r.status).toBe(503);
    expect(r.json<{ reason: string }>().reason).toMatch(/not writable/);
  });
});
