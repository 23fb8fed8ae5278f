import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { startWarmSchedule } from './admin/warm-schedule.js';
import { startMessage } from './cli/start-message.js';
import { startCoreRetention } from './admin/retention.js';
import { ConfigError } from './config/load.js';
import type { Config } from './config/schema.js';
import { createCore, type Core } from './core.js';
import { createApp } from './http/app.js';
import type { Logger } from './log/logger.js';

/** How often batched access bookkeeping reaches SQLite. */
const FLUSH_INTERVAL_MS = 5000;

export interface RunningServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/**
 * Builds the core with the data dir's claim (createCore `exclusive`: the lock, so
 * DataDirLockedError when another server holds it, then a crashed run's temp files are
 * removed), hands it to the app and listens; whatever fails closes the core again. Config problems found here (TLS files,
 * htpasswd, token secret) are ConfigErrors naming the key.
 */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const tls = config.http.tls && {
    cert: readConfigFile('http.tls.certificate', config.http.tls.certificate),
    key: readConfigFile('http.tls.key', config.http.tls.key),
  };
  const core = await createCore(config, { log, exclusive: true });
  try {
    return await listen(core, tls);
  } catch (err) {
    await core.close();
    throw err;
  }
}

async function listen(core: Core, tls: { cert: Buffer; key: Buffer } | undefined): Promise<RunningServer> {
  const { config, log, access, stats } = core;
  let created: ReturnType<typeof createApp>;
  try {
    created = createApp(core);
  } catch (err) {
    // The startup failures here are the htpasswd file and the token secret (config), or an
    // incomplete package (the console's files), which is no config key's fault.
    const message = (err as Error).message;
    if (message.startsWith('console assets:')) throw err;
    throw new ConfigError(/token.secret/.test(message) ? 'auth.token_secret' : 'auth.htpasswd', message);
  }
  const { listener, stop, clientError } = created;

  let server: Server;
  try {
    server = tls ? createHttpsServer(tls, listener) : createHttpServer(listener);
  } catch (err) {
    // Files that exist but hold no usable PEM certificate or key.
    await stop();
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
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  log.info('listening', {
    addr: `${config.http.host}:${port}`, tls: Boolean(tls), storage: config.storage.path, upstream: config.upstream.url, upstreams: config.upstreams.map((u) => u.name),
  });
  // First run: the URL to use and the client line to paste (README "Pointing clients").
  log.info('serving', startMessage(config.http.host, port, Boolean(tls)));

  // A failed write keeps the batch (AccessBatcher.flush notes it again) for the next tick.
  const flushTimer = setInterval(() => {
    access.flush().catch((err: unknown) => log.error('flushing access bookkeeping failed', { error: err }));
    stats.flush().catch((err: unknown) => log.error('flushing cache stats failed', { error: err }));
  }, FLUSH_INTERVAL_MS);
  flushTimer.unref();
  const warm = startWarmSchedule(core.namespace.resolver, config.warm, log);
  // Only the server evicts in the background: the data-dir lock makes it the one process.
  const retention = startCoreRetention(core);

  let closing: Promise<void> | undefined;
  return {
    server,
    port,
    close() {
      closing ??= (async () => {
        clearInterval(flushTimer);
        await warm?.stop();
        await retention.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await stop();
        await core.close();
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
