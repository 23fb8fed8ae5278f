/**
 * The mirror in-process, on a real HTTP server on a free port, with a temp data dir, a
 * real upstream client and a clock the test controls (to age tags past their TTL).
 * Configuration goes in as MIRROR_* variables, exactly as a user would set them; the
 * mirror is built by the same composition root as `serve` (createCore).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Metrics } from '../../src/admin/metrics.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { createCore, type CoreOptions } from '../../src/core.js';
import type { EventBus } from '../../src/events/event-bus.js';
import { createApp } from '../../src/http/app.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import type { StoragePorts } from '../../src/storage/ports.js';

export interface MirrorApp {
  url: string;
  dataDir: string;
  config: Config;
  /** The index's async ports (tests read what was stored; gc and prune decide over ports.maintenance). */
  ports: StoragePorts;
  /** The blob store (for admin functions such as prune run beside the app). */
  store: BlobStore;
  metrics: Metrics;
  /** The core's event bus: subscribe to see what the mirror did. */
  events: EventBus;
  /** Moves the mirror's clock forward. */
  advance(ms: number): void;
  /** Files under data/blobs and data/tmp, for "nothing was cached" assertions. */
  blobFiles(): string[];
  tmpFiles(): string[];
  close(): Promise<void>;
}

/** A fresh temp data dir and the config a test mirror runs with, MIRROR_* `env` on top. */
export function mirrorAppConfig(upstreamUrl: string, env: Record<string, string> = {}): Config {
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
  // Unless the test sets breaker keys: these suites assert what each request does while
  // the upstream fails, which a breaker opening after a few failures would change.
  if (Object.keys(env).some((k) => k.includes('BREAKER'))) return config;
  return { ...config, upstream: { ...config.upstream, breaker: NO_BREAKER } };
}

/**
 * An endpoint breaker that never opens: for suites about single requests against a failing
 * upstream (test/mirror/failover.test.ts configures a real one).
 */
export const NO_BREAKER = { failures: Number.MAX_SAFE_INTEGER, openMs: 0 } as const;

/**
 * `env` holds MIRROR_* settings, e.g. { MIRROR_UPSTREAM_TAG_TTL: '1m',
 * MIRROR_LOCAL_NAMESPACES: 'team/*', MIRROR_AUTH_HTPASSWD: '/tmp/htpasswd' }.
 */
export async function startMirrorApp(upstreamUrl: string, env: Record<string, string> = {}): Promise<MirrorApp> {
  return startMirrorAppWith(mirrorAppConfig(upstreamUrl, env));
}

/**
 * The mirror for a config (its storage.path is the data dir, removed on close); `options`
 * go to createCore (a faulty store, a wrapped index, a logger). The clock is the test's.
 */
export async function startMirrorAppWith(config: Config, options: Omit<CoreOptions, 'now' | 'exclusive'> = {}): Promise<MirrorApp> {
  const dataDir = config.storage.path;
  let clock = Date.now();
  const core = await createCore(config, { ...options, now: () => clock });
  const { listener, stop } = createApp(core);
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
    ports: core.ports,
    store: core.store,
    metrics: core.metrics,
    events: core.events,
    advance: (ms) => { clock += ms; },
    blobFiles: () => walk(join(dataDir, 'blobs')),
    tmpFiles: () => walk(join(dataDir, 'tmp')),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await stop();
      await core.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
