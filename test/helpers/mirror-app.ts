/**
 * The mirror in-process, on a real HTTP server on a free port, with a temp data dir, a
 * real upstream client and a clock the test controls (to age tags past their TTL).
 * Configuration goes in as MIRROR_* variables, exactly as a user would set them.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMetrics, type Metrics } from '../../src/admin/metrics.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { createApp } from '../../src/http/app.js';
import { silentLogger } from '../../src/log/logger.js';
import { createFsBlobStore } from '../../src/storage/fs-blob-store.js';
import type { RegistryIndex } from '../../src/storage/registry-index.js';
import { openSqliteIndex } from '../../src/storage/sqlite-index.js';
import { createUpstreamClient } from '../../src/upstream/client.js';

export interface MirrorApp {
  url: string;
  dataDir: string;
  config: Config;
  index: RegistryIndex;
  metrics: Metrics;
  /** Moves the mirror's clock forward. */
  advance(ms: number): void;
  /** Files under data/blobs and data/tmp, for "nothing was cached" assertions. */
  blobFiles(): string[];
  tmpFiles(): string[];
  close(): Promise<void>;
}

/**
 * `env` holds MIRROR_* settings, e.g. { MIRROR_UPSTREAM_TAG_TTL: '1m',
 * MIRROR_LOCAL_NAMESPACES: 'team/*', MIRROR_AUTH_HTPASSWD: '/tmp/htpasswd' }.
 */
export async function startMirrorApp(upstreamUrl: string, env: Record<string, string> = {}): Promise<MirrorApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mirror-app-'));
  const config = loadConfig({
    env: {
      MIRROR_STORAGE_PATH: dataDir,
      MIRROR_UPSTREAM_URL: upstreamUrl,
      MIRROR_UPSTREAM_CONNECT_TIMEOUT: '2s',
      MIRROR_UPSTREAM_TIMEOUT: '3s',
      MIRROR_UPSTREAM_TAG_TTL: '1m',
      MIRROR_LOG_ACCESS: 'false',
      ...env,
    },
  });
  const store = await createFsBlobStore(dataDir);
  const index = openSqliteIndex(join(dataDir, 'index.db'));
  const client = createUpstreamClient(config.upstream);
  const metrics = createMetrics();
  let clock = Date.now();
  const { listener, stop } = createApp({ config, index, store, upstream: client, metrics, log: silentLogger, now: () => clock });
  const server: Server = createServer(listener);
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
    config,
    index,
    metrics,
    advance: (ms) => { clock += ms; },
    blobFiles: () => walk(join(dataDir, 'blobs')),
    tmpFiles: () => walk(join(dataDir, 'tmp')),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await stop();
      await client.close();
      index.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
