import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createMetrics } from './admin/metrics.js';
import { ConfigError } from './config/load.js';
import type { Config } from './config/schema.js';
import { createApp } from './http/app.js';
import type { Logger } from './log/logger.js';
import { acquireDataLock } from './storage/data-lock.js';
import { createFsBlobStore } from './storage/fs-blob-store.js';
import { DIR_MODE, ensurePrivateFile } from './storage/fs-ops.js';
import type { RegistryIndex } from './storage/registry-index.js';
import { openSqliteIndex } from './storage/sqlite-index.js';
import { createUpstreamClient } from './upstream/client.js';

/** How often batched access bookkeeping reaches SQLite. */
const FLUSH_INTERVAL_MS = 5000;

export interface RunningServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/**
 * Takes the data dir's lock (DataDirLockedError when another server holds it), opens
 * storage (removing a crashed run's temp files: only now that they cannot be another
 * live server's), wires the app and listens. Config problems found here (TLS files,
 * htpasswd, token secret) are ConfigErrors naming the key.
 */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const root = config.storage.path;
  const tls = config.http.tls && {
    cert: readConfigFile('http.tls.certificate', config.http.tls.certificate),
    key: readConfigFile('http.tls.key', config.http.tls.key),
  };
  mkdirSync(root, { recursive: true, mode: DIR_MODE });
  if ((statSync(root).mode & 0o077) !== 0) {
    log.warn('the data dir is readable by other users; blobs may be private images', { storage: root, mode: (statSync(root).mode & 0o777).toString(8) });
  }
  const lock = acquireDataLock(root);
  if (lock.tookOverFrom !== undefined) log.warn('took over the data dir lock of a process that is gone', { pid: lock.tookOverFrom });
  let index: RegistryIndex | undefined;
  try {
    const store = await createFsBlobStore(root);
    const removed = await store.cleanTemp();
    if (removed > 0) log.info('removed stale temp files', { count: removed });
    ensurePrivateFile(join(root, 'index.db'));
    index = openSqliteIndex(join(root, 'index.db'));
    return await listen(config, log, { store, index, tls, lock });
  } catch (err) {
    index?.close();
    lock.release();
    throw err;
  }
}

async function listen(
  config: Config,
  log: Logger,
  deps: {
    store: Awaited<ReturnType<typeof createFsBlobStore>>;
    index: RegistryIndex;
    tls: { cert: Buffer; key: Buffer } | undefined;
    lock: { release(): void };
  },
): Promise<RunningServer> {
  const { store, index, tls, lock } = deps;
  const upstream = createUpstreamClient(config.upstream, { log });
  const metrics = createMetrics();
  let created: ReturnType<typeof createApp>;
  try {
    created = createApp({ config, index, store, upstream, metrics, log });
  } catch (err) {
    // The only startup failures here are the htpasswd file and the token secret: config.
    await upstream.close();
    const message = (err as Error).message;
    throw new ConfigError(/token.secret/.test(message) ? 'auth.token_secret' : 'auth.htpasswd', message);
  }
  const { listener, stop, clientError } = created;

  let server: Server;
  try {
    server = tls ? createHttpsServer(tls, listener) : createHttpServer(listener);
  } catch (err) {
    // Files that exist but hold no usable PEM certificate or key.
    await stop();
    await upstream.close();
    throw new ConfigError('http.tls', `certificate or key unusable: ${(err as Error).message}`);
  }
  server.on('clientError', clientError);
  // Large blobs take as long as they take; only idle keep-alive sockets are timed out.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.http.port, config.http.host, () => resolve());
    });
  } catch (err) {
    await stop();
    await upstream.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  log.info('listening', {
    addr: `${config.http.host}:${port}`, tls: Boolean(tls), storage: config.storage.path, upstream: config.upstream.url,
  });

  const flushTimer = setInterval(() => {
    try {
      index.flush();
    } catch (err) {
      log.error('flushing access bookkeeping failed', { error: err });
    }
  }, FLUSH_INTERVAL_MS);
  flushTimer.unref();

  let closing: Promise<void> | undefined;
  return {
    server,
    port,
    close() {
      closing ??= (async () => {
        clearInterval(flushTimer);
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await stop();
        await upstream.close();
        index.close();
        lock.release();
      })();
      return closing;
    },
  };
}

/** A file the config names (TLS certificate, key): missing or unreadable is a ConfigError naming the key. */
function readConfigFile(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(key, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
