import { mkdirSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createMetrics } from './admin/metrics.js';
import { ConfigError } from './config/load.js';
import type { Config } from './config/schema.js';
import { createApp } from './http/app.js';
import type { Logger } from './log/logger.js';
import { createFsBlobStore } from './storage/fs-blob-store.js';
import { openSqliteIndex } from './storage/sqlite-index.js';
import { createUpstreamClient } from './upstream/client.js';

/** How often batched access bookkeeping reaches SQLite. */
const FLUSH_INTERVAL_MS = 5000;

export interface RunningServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/** Opens storage (removing a crashed run's temp files), wires the app and listens. */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const root = config.storage.path;
  mkdirSync(root, { recursive: true });
  const store = await createFsBlobStore(root);
  const removed = await store.cleanTemp();
  if (removed > 0) log.info('removed stale temp files', { count: removed });
  const index = openSqliteIndex(join(root, 'index.db'));
  const upstream = createUpstreamClient(config.upstream);
  const metrics = createMetrics();
  let created: ReturnType<typeof createApp>;
  try {
    created = createApp({ config, index, store, upstream, metrics, log });
  } catch (err) {
    // The only startup failures here are the htpasswd file and the token secret: config.
    index.close();
    const message = (err as Error).message;
    throw new ConfigError(/token.secret/.test(message) ? 'auth.token_secret' : 'auth.htpasswd', message);
  }
  const { listener, stop, clientError } = created;

  const server: Server = config.http.tls
    ? createHttpsServer({ cert: readFileSync(config.http.tls.certificate), key: readFileSync(config.http.tls.key) }, listener)
    : createHttpServer(listener);
  server.on('clientError', clientError);
  // Large blobs take as long as they take; only idle keep-alive sockets are timed out.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info('listening', {
    addr: `${config.http.host}:${port}`, tls: Boolean(config.http.tls), storage: root, upstream: config.upstream.url,
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
      })();
      return closing;
    },
  };
}
