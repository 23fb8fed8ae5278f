import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { createDurations, type Durations } from './admin/durations.js';
import { createMetrics, subscribeMetrics, type Metrics } from './admin/metrics.js';
import { RecentErrors } from './admin/recent-errors.js';
import { StatsRecorder } from './admin/stats-recorder.js';
import type { Config } from './config/schema.js';
import { EventBus } from './events/event-bus.js';
import { createNamespace, type Namespace } from './routing/namespace.js';
import { silentLogger, type Logger } from './log/logger.js';
import type { BlobStore } from './storage/blob-store.js';
import type { ClusterFills } from './proxy/cluster-fills.js';
import type { LockSession } from './storage/pg-lock-session.js';
import type { FillRows } from './storage/pg-fills.js';
import { acquireDataLock, type DataLock } from './storage/data-lock.js';
import { FillWorkerPool } from './storage/fill-worker-pool.js';
import { createFsBlobStore } from './storage/fs-blob-store.js';
import { DIR_MODE, ensurePrivateFile } from './storage/fs-ops.js';
import type { StoragePorts } from './storage/ports.js';
import { AccessBatcher } from './storage/access-batcher.js';
import { OpenBlobs } from './storage/open-blobs.js';
import { openSqliteStorage } from './storage/sqlite-index.js';
import { createUpstreamClient, type UpstreamClient } from './upstream/client.js';

export interface CoreOptions {
  log?: Logger;
  /** The clock (epoch ms): tag TTLs, access times, event times. Tests move it. */
  now?: () => number;
  /** An upstream client to use instead of one built from config.upstream (tests); the others are built from config.upstreams. */
  upstream?: UpstreamClient;
  /** The undici dispatcher the built upstream client sends through (tests, a shared pool); not closed by the core. */
  upstreamDispatcher?: Dispatcher;
  /** Storage to use instead of the file store and SQLite index under storage.path (tests: faults). */
  store?: BlobStore;
  /** The index (its async ports, and how to close them) instead of index.db (tests: faults). */
  storage?: { ports: StoragePorts; close(): void | Promise<void>; ready?(): Promise<string | undefined> };
  /**
   * The server's claim on the data dir: take its lock (DataDirLockedError when another
   * live server holds it), warn when others may read it, and remove a crashed run's temp
   * files — only safe once no other live server can own them. Off for the CLI commands,
   * which are safe beside a running server.
   */
  exclusive?: boolean;
}

/** Everything the mirror is made of, built once; the app only routes over it. */
export interface Core {
  config: Config;
  log: Logger;
  now: () => number;
  store: BlobStore;
  /** The async storage ports (tags, manifests, blobs, repositories, access, maintenance). */
  ports: StoragePorts;
  /**
   * Access bookkeeping (touchBlob, touchManifest) noted per request above ports.access and
   * written by flush(): the server flushes every few seconds, close() once more.
   */
  access: AccessBatcher;
  /** The default upstream (docker.io). */
  upstream: UpstreamClient;
  /** Every upstream, the default one first (issue 10). */
  upstreams: readonly UpstreamClient[];
  metrics: Metrics;
  /** Latency histograms: client requests (timed by the app) and upstream requests (timed by the clients). */
  durations: Durations;
  /** Persists the metrics' cache counters in hourly buckets (issue 11): the server flushes it with access, close() once more. */
  stats: StatsRecorder;
  /** What happened (pushes, pulls, fills, evictions); metrics subscribe here. */
  events: EventBus;
  /** Every repository, local and mirrored: the resolver the routes ask for a Repository. */
  namespace: Namespace;
  /** Blobs being sent to clients right now: background retention skips them (issue 11). */
  openBlobs: OpenBlobs;
  /** Issue 12: the console's recent errors (failed responses, fed by the app; upstream failures, fed by the namespace). */
  recentErrors: RecentErrors;
  /**
   * Issue 13: undefined when the shared engines (the PostgreSQL index, the S3 bucket) answer,
   * else the reason naming the engine (never its address). Uncached: /readyz caches it.
   * Resolves undefined at once for the defaults (SQLite, fs), which /readyz checks its own way.
   */
  engineReady(): Promise<string | undefined>;
  /** Issue 13: fill claims and peer streams across replicas; undefined with cluster.* off. */
  cluster?: ClusterFills;
  /** Closes the upstream client, flushes access bookkeeping, closes the index and releases the lock; once, whatever is called again. */
  close(): Promise<void>;
}

/**
 * The one composition root: `serve`, every CLI command and the test helpers build the
 * mirror here, so storage, upstream, metrics and events are wired one way.
 * On failure whatever was opened is closed again (the lock released) before it throws.
 */
export async function createCore(config: Config, options: CoreOptions = {}): Promise<Core> {
  const log = options.log ?? silentLogger;
  const now = options.now ?? Date.now;
  const root = config.storage.path;
  mkdirSync(root, { recursive: true, mode: DIR_MODE });
  let lock: DataLock | undefined;
  if (options.exclusive) {
    if ((statSync(root).mode & 0o077) !== 0) {
      log.warn('the data dir is readable by other users; blobs may be private images', { storage: root, mode: (statSync(root).mode & 0o777).toString(8) });
    }
    lock = acquireDataLock(root);
    if (lock.tookOverFrom !== undefined) log.warn('took over the data dir lock of a process that is gone', { pid: lock.tookOverFrom });
  }
  let storage = options.storage;
  /** Issue 13: the PostgreSQL index's fills rows, for the cluster's claims. */
  let fillRows: FillRows | undefined;
  let cluster: ClusterFills | undefined;
  let lockSession: LockSession | undefined;
  // Cache fills hashed and fsync'd off the event loop; the workers start at the first fill.
  const fillWorkers = !options.store && config.storage.driver === 'fs' && config.storage.fillWorkers > 0 ? new FillWorkerPool({ size: config.storage.fillWorkers }) : undefined;
  try {
    const store = options.store ?? await openBlobStore(config, root, fillWorkers);
    if (options.exclusive) {
      const removed = await store.cleanTemp();
      if (removed > 0) log.info('removed stale temp files', { count: removed });
    }
    if (!storage && config.index.driver === 'postgres') {
      // Issue 13: imported only when configured, so pg never raises the default's idle RSS.
      const { openPgStorage } = await import('./storage/pg-index.js');
      const pgStorage = await openPgStorage(config.index.url, { poolSize: config.index.poolSize });
      fillRows = pgStorage.fills;
      storage = pgStorage;
    } else if (!storage) {
      ensurePrivateFile(join(root, 'index.db'));
      storage = openSqliteStorage(join(root, 'index.db'));
    }
    const { ports } = storage;
    const access = new AccessBatcher(ports.access);
    // One client per upstream (own pool, slots, tokens, rate-limit budget); the default one may be the test's.
    const durations = createDurations();
    const build = (c: Config['upstream']) => createUpstreamClient(c, {
      log, now, timing: durations.upstreamTiming(c.name), ...(options.upstreamDispatcher ? { dispatcher: options.upstreamDispatcher } : {}),
    });
    const upstream = options.upstream ?? build(config.upstream);
    // By name, not identity: config.upstream is the default (docker.io) even when a caller rebuilt it.
    const upstreams = [upstream, ...(config.upstreams ?? []).filter((c) => c.name !== upstream.config.name).map(build)];
    const metrics = createMetrics();
    const events = new EventBus({ now, log });
    subscribeMetrics(events, metrics);
    const stats = new StatsRecorder({ metrics, index: ports.maintenance, now, events });
    const recentErrors = new RecentErrors(now);
    // Issue 13: with a shared index, one lock session (one connection, opened at its first
    // use) per replica holds its fill claims and its pins; loaded only then (it loads pg).
    // A send pins its blob there, so that deletes on every replica skip it.
    let openBlobs = new OpenBlobs();
    if (config.index.driver === 'postgres') {
      const [{ openLockSession }, { ClusterPins }] = await Promise.all([import('./storage/pg-lock-session.js'), import('./storage/pg-blob-pins.js')]);
      lockSession = openLockSession(config.index.url);
      openBlobs = new OpenBlobs(new ClusterPins(lockSession, log));
    }
    if (config.cluster) {
      // load.ts made sure index.driver is postgres.
      if (!fillRows || !lockSession) throw new Error('cluster.* needs the PostgreSQL index opened from index.url');
      const { openCluster } = await import('./proxy/cluster.js');
      cluster = openCluster(config.cluster, lockSession, fillRows, store, log);
      log.info('cluster on: blob fills are claimed across replicas', { self: config.cluster.selfUrl, peers: config.cluster.peers.length });
    }
    const namespace = createNamespace({
      config, ports, access, store, upstream, upstreams, metrics, events, log, now,
      onUpstreamFailure: (name, what) => recentErrors.addUpstream(name, what),
      ...(cluster ? { cluster } : {}),
    });
    const opened = storage;
    const engineReady = async () => (await opened.ready?.()) ?? (await store.ready?.());
    let closing: Promise<void> | undefined;
    return {
      config, log, now, store, ports, access, upstream, upstreams, metrics, durations, stats, events, namespace, openBlobs, recentErrors, engineReady,
      ...(cluster ? { cluster } : {}),
      close() {
        closing ??= (async () => {
          try {
            namespace.stopPrefetch();
            await Promise.all(upstreams.map((u) => u.close()));
          } finally {
            await cluster?.close().catch((err: unknown) => log.warn('closing the cluster connections failed', { error: err }));
            await fillWorkers?.close();
            try {
              await access.flush();
            } catch (err) {
              log.error('flushing access bookkeeping failed', { error: err });
            }
            try {
              await stats.flush();
            } catch (err) {
              log.error('flushing cache stats failed', { error: err });
            }
            await opened.close();
            await lockSession?.close();
            lock?.release();
          }
        })();
        return closing;
      },
    };
  } catch (err) {
    await cluster?.close().catch(() => {});
    await lockSession?.close();
    await fillWorkers?.close();
    if (!options.storage) await storage?.close();
    lock?.release();
    throw err;
  }
}

/**
 * The configured blob store. The S3 store (issue 13) is imported only when configured:
 * the AWS SDK must not weigh on a mirror that stores blobs on its own disk.
 */
async function openBlobStore(config: Config, root: string, fillWorkers: FillWorkerPool | undefined): Promise<BlobStore> {
  if (config.storage.driver === 's3' && config.storage.s3) {
    const { openS3BlobStore } = await import('./storage/s3-blob-store.js');
    return openS3BlobStore(config.storage.s3, root);
  }
  return createFsBlobStore(root, { fillWorkers });
}
