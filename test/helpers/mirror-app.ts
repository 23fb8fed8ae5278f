/**
 * The mirror in-process, on a real HTTP server on a free port, with a temp data dir, a
 * real upstream client and a clock the test controls (to age tags past their TTL).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRequestListener } from '@hono/node-server';
import { createMetrics, type Metrics } from '../../src/admin/metrics.js';
import type { UpstreamConfig } from '../../src/config/schema.js';
import { createApp } from '../../src/http/app.js';
import { silentLogger } from '../../src/log/logger.js';
import { createFsBlobStore } from '../../src/storage/fs-blob-store.js';
import type { RegistryIndex } from '../../src/storage/registry-index.js';
import { openSqliteIndex } from '../../src/storage/sqlite-index.js';
import { createUpstreamClient } from '../../src/upstream/client.js';

export interface MirrorApp {
  url: string;
  dataDir: string;
  index: RegistryIndex;
  metrics: Metrics;
  /** Moves the mirror's clock forward. */
  advance(ms: number): void;
  /** Files under data/blobs and data/tmp, for "nothing was cached" assertions. */
  blobFiles(): string[];
  tmpFiles(): string[];
  close(): Promise<void>;
}

export async function startMirrorApp(upstreamUrl: string, upstream: Partial<UpstreamConfig> = {}): Promise<MirrorApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mirror-app-'));
  const store = await createFsBlobStore(dataDir);
  const index = openSqliteIndex(join(dataDir, 'index.db'));
  const client = createUpstreamClient({
    name: 'docker.io', url: upstreamUrl, connectTimeoutMs: 2000, timeoutMs: 3000, concurrency: 32,
    tagTtlMs: 60_000, officialPrefix: 'library/', ...upstream,
  });
  const metrics = createMetrics();
  let clock = Date.now();
  const app = createApp({
    index, store, upstream: client, metrics, log: silentLogger, accessLog: false,
    maxManifestBytes: 4 * 1024 * 1024, now: () => clock,
  });
  const server: Server = createServer(getRequestListener(app.fetch));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const walk = (dir: string): string[] => {
    try {
      return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
    } catch {
      return [];
    }
  };
  return {
    url: `http://127.0.0.1:${port}`,
    dataDir,
    index,
    metrics,
    advance: (ms) => { clock += ms; },
    blobFiles: () => walk(join(dataDir, 'blobs')),
    tmpFiles: () => walk(join(dataDir, 'tmp')),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await client.close();
      index.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
