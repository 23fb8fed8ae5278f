import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono, type Context, type Next } from 'hono';
import { createDurations, type Durations } from '../admin/durations.js';
import type { Metrics } from '../admin/metrics.js';
import { createPrometheus } from '../admin/prometheus.js';
import { adminStats } from '../admin/stats-endpoint.js';
import { createAuthGuard, type AdminSurface } from '../auth/auth-guard.js';
import { createTrustedProxies } from '../auth/forwarded.js';
import type { Config } from '../config/schema.js';
import { OciError } from '../oci/errors.js';
import type { Logger } from '../log/logger.js';
import { createReadinessCheck } from '../storage/readiness.js';
import type { Namespace } from '../routing/namespace.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { OpenBlobs } from '../storage/open-blobs.js';
import { openDeletePins } from '../admin/delete-pins.js';
import type { AccessBatcher } from '../storage/access-batcher.js';
import type { EventBus } from '../events/event-bus.js';
import type { StoragePorts } from '../storage/ports.js';
import { requestFinished } from './access-log.js';
import type { AppEnv } from './app-env.js';
import { createBlobHandler } from './blob-routes.js';
import { createCatalogHandler, createReferrersHandler } from './discovery-routes.js';
import { createClientErrorHandler, createErrorHandler, createLastResort, errorResponse, ociErrorResponse } from './errors.js';
import { createManifestHandler, createMirroredManifestDelete } from './manifest-routes.js';
import { createTagsHandler } from './tag-routes.js';
import { createUploadHandlers } from './upload-routes.js';
import { createInternalFillHandler } from './internal-routes.js';
import type { ClusterFills } from '../proxy/cluster-fills.js';
import { createRequestDone } from './request-done.js';
import { createV2Entry } from './v2-entry.js';
import { createConsole } from '../ui/console.js';
import { securityHeaders } from '../ui/security-headers.js';
import { MinuteSeries } from '../admin/minute-series.js';
import { RecentErrors } from '../admin/recent-errors.js';
import { counterValues, type StatsRecorder } from '../admin/stats-recorder.js';
import { authRequest, createMountCheck, createV2Gate, createV2Handler } from './v2-routes.js';

/** The parts of a core (src/core.ts) the routes use. */
export interface AppDeps {
  config: Config;
  /** For /healthz, /metrics and /admin/stats. */
  ports: Pick<StoragePorts, 'maintenance' | 'tags'
    // The console's repository pages (issue 12).
    | 'manifests' | 'browse'>
    // Issue 13: an eviction writes back the row of a blob another replica is sending.
    & { blobs?: Pick<StoragePorts['blobs'], 'putBlob' | 'unlinkBlob'> };
  /** With ports, for an admin's DELETE of a mirrored manifest (evicts the cached image). */
  store: BlobStore;
  events?: EventBus;
  metrics: Metrics;
  /** Latency histograms (the core's, which its upstream clients time into); a new set when absent. */
  durations?: Durations;
  /** Issue 11: flushed before /admin/stats reads the persisted counters. */
  stats: Pick<StatsRecorder, 'flush'>;
  /** Every repository, local and mirrored: where the routes get a Repository. */
  namespace: Namespace;
  log: Logger;
  now?: () => number;
  /** Blobs being sent (core.openBlobs): background retention skips them. */
  openBlobs?: OpenBlobs;
  /** Accesses noted but not yet written (core.access): the console flushes them before a prune, as retention does. */
  access?: Pick<AccessBatcher, 'flush'>;
  /** Issue 12: the console's recent errors (core.recentErrors); a new ring when absent. */
  recentErrors?: RecentErrors;
  /** Issue 13: why the shared engines (PostgreSQL index, S3 bucket) are not ready (core.engineReady). */
  engineReady?: () => Promise<string | undefined>;
  /** Issue 13: cluster.* on (core.cluster): the internal endpoint other replicas stream fills from. */
  cluster?: ClusterFills;
}

export interface MirrorApp {
  app: Hono<AppEnv>;
  /** The Node request listener: the memo step of the /v2/ pipeline, then the Hono app. */
  listener: (req: IncomingMessage, res: ServerResponse) => void;
  /** For the server's `clientError` event: requests Node's parser refused get an OCI error too. */
  clientError: ReturnType<typeof createClientErrorHandler>;
  /** Stops background work (upload expiry) and discards open uploads. */
  stop(): Promise<void>;
}

/**
 * Routes the registry: /v2/ (the OCI distribution API, mirrored and local), /auth/token,
 * /healthz, /metrics and /admin/stats, over the parts of a core (src/core.ts: createCore
 * builds them, so tests hand in a fake upstream or a faulty store there).
 */
export function createApp(deps: AppDeps): MirrorApp {
  const { config, ports, metrics, log, namespace } = deps;
  const now = deps.now ?? Date.now;
  const guard = createAuthGuard({ auth: config.auth, storagePath: config.storage.path, now, log });
  const proxies = createTrustedProxies(config.http.trustedProxies);
  const { resolver } = namespace;
  const gate = createV2Gate({ resolver, guard });
  const onV2 = createV2Handler({
    gate, guard, tls: Boolean(config.http.tls), proxies, admins: config.auth.admins,
    handlers: {
      manifest: createManifestHandler({ maxManifestBytes: config.storage.maxManifestBytes }),
      blob: createBlobHandler({ metrics, openBlobs: deps.openBlobs, ...blobRedirect(config, deps.store) }),
      uploads: createUploadHandlers({ mayMountFrom: createMountCheck(resolver, guard), ...(deps.openBlobs ? { openBlobs: deps.openBlobs } : {}) }),
      tags: createTagsHandler(),
      catalog: createCatalogHandler({ catalog: namespace.catalog }),
      referrers: createReferrersHandler(),
      evictMirrored: createMirroredManifestDelete({
        index: ports.maintenance, tags: ports.tags, store: deps.store, log, ...(deps.events ? { events: deps.events } : {}),
        forget: (cacheRepo) => namespace.forgetMirrored(cacheRepo),
        // Issue 13: blobs another replica is sending keep their objects (admin/delete-pins.ts).
        openPins: () => openDeletePins(config, log), ...(ports.blobs ? { blobs: ports.blobs } : {}),
      }),
    },
  });

  const durations = deps.durations ?? createDurations();
  // Every request is logged (when access logs are on) and timed, /v2/ or not, 404s included.
  // Issue 12: the console's recent errors (fed by done) and the last hour by minute (a timer, stopped by stop()).
  const recentErrors = deps.recentErrors ?? new RecentErrors(now);
  const minutes = new MinuteSeries(() => counterValues(metrics), now);
  minutes.start();
  const done = createRequestDone({
    log, accessLog: config.log.access, durations: durations.requests,
    onError: (method, route, status, code) => recentErrors.add(method, route, status, code),
  });
  const app = new Hono<AppEnv>();
  app.onError(createErrorHandler(log));
  app.use('*', requestFinished(done));
  app.all('/v2', onV2);
  app.all('/v2/*', onV2);

  app.get('/auth/token', async (c) => {
    const result = await guard.token(
      authRequest(c, Boolean(config.http.tls), proxies), new URL(c.req.url).searchParams,
      (name) => (resolver.isLocal(name) ? 'local' : 'mirror'),
    );
    return c.json(result.body as object, result.status as 200);
  });

  app.get('/healthz', async (c) => {
    await ports.maintenance.stats();
    return c.json({ status: 'ok' });
  });

  // Readiness, apart from liveness: a full or unwritable data dir takes the mirror out of
  // the load balancer's rotation without restarting it.
  const readiness = createReadinessCheck({
    root: config.storage.path, minFree: config.storage.minFree, ...(deps.engineReady ? { engines: deps.engineReady } : {}),
  });
  app.get('/readyz', async (c) => {
    const r = await readiness();
    return r.ready ? c.json({ status: 'ready' }) : c.json({ status: 'not ready', reason: r.reason }, 503);
  });

  // Admin surfaces: an admin from auth.admins, or loopback callers while none can log in.
  const adminOnly = (surface: AdminSurface) => async (c: Context<AppEnv>, next: Next) => {
    await guard.admin(authRequest(c, Boolean(config.http.tls), proxies), surface);
    await next();
  };
  app.use('/metrics', adminOnly('metrics'));
  app.use('/admin/*', adminOnly('admin'));

  const prometheus = createPrometheus({
    metrics, durations, index: ports.maintenance, now, gc: config.metrics.gc,
    fillsInProgress: () => namespace.fillsInProgress(),
    uploadsInProgress: () => namespace.uploadsInProgress(),
    upstreamHealth: () => namespace.upstreamHealth(),
    freeBytes: async () => (await readiness()).freeBytes,
    cluster: deps.cluster !== undefined,
  });
  app.get('/metrics', async (c) => c.body(await prometheus.metrics(), 200, { 'Content-Type': prometheus.contentType }));

  // Issue 13: another replica streams this one's in-progress fill (signed; absent with cluster off: 404).
  if (deps.cluster) {
    app.get('/internal/v1/fills/:digest', createInternalFillHandler({
      cluster: deps.cluster, fillOf: (d) => namespace.fillOf(d), metrics, log,
      ...(deps.openBlobs ? { openBlobs: deps.openBlobs } : {}),
    }));
  }

  app.get('/admin/stats', async (c) => c.json(await adminStats({ maintenance: ports.maintenance, metrics, namespace, stats: deps.stats, now })));

  // The web console (issue 12): same process, port and auth decisions as the API.
  app.get('/', securityHeaders(), (c) => c.redirect('/ui/', 302));
  app.get('/ui', securityHeaders(), (c) => c.redirect('/ui/', 301));
  const ui = createConsole({ ...deps, guard, proxies, tls: Boolean(config.http.tls), now, recentErrors, minutes });
  app.route('/', ui.routes as unknown as Hono<AppEnv>);

  app.notFound((c) => errorResponse(c, new OciError('UNSUPPORTED', { status: 404, message: 'no such endpoint' })));

  // Abandoned uploads: checked often enough to honour short expiries, at most once a minute.
  const expiry = setInterval(() => {
    namespace.expireUploads().then(
      (n) => { if (n > 0) log.info('expired abandoned uploads', { count: n }); },
      (err) => log.error('expiring uploads failed', { error: err }),
    );
  }, Math.min(60_000, Math.max(250, config.storage.uploadExpiryMs / 4)));
  expiry.unref();

  const entry = createV2Entry({ gate, log, done, tls: Boolean(config.http.tls), proxies });
  const lastResort = createLastResort(log, done);
  const full = getRequestListener(app.fetch, {
    // A request Node parsed but the web Request cannot represent (a bad Host, an odd
    // target) or a fetch that failed outside Hono's handlers: an OCI error, not text/plain.
    errorHandler: (err) => {
      const bad = (err as Error)?.name === 'RequestError';
      if (!bad) log.error('request failed before the handlers', { error: err });
      const oci = bad ? new OciError('UNSUPPORTED', { status: 400, message: 'malformed request' }) : new OciError('UNKNOWN');
      return ociErrorResponse('GET', oci);
    },
  });

  return {
    app,
    clientError: createClientErrorHandler(log, done),
    // One pipeline for every request: its first step answers a manifest the memo holds
    // (v2-entry.ts, same parsing, gate and writers as the router), then the router;
    // whatever escapes both is answered by lastResort, so no request can take the
    // process down.
    listener: (req, res) => {
      try {
        if (entry(req, res, (err) => lastResort(req, res, err, performance.now()))) return;
        res.setHeader('X-Content-Type-Options', 'nosniff');
        full(req, res).catch((err) => lastResort(req, res, err, performance.now()));
      } catch (err) {
        lastResort(req, res, err, performance.now());
      }
    },
    async stop() {
      clearInterval(expiry);
      ui.stop();
      minutes.stop();
      await namespace.closeUploads();
      await guard.close();
    },
  };
}

/** storage.s3.redirect: the blob handler's presign step, only when on and the store can sign. */
function blobRedirect(config: Config, store: BlobStore): { presign?: (digest: string) => Promise<string> } {
  const s3 = config.storage.driver === 's3' ? config.storage.s3 : undefined;
  if (!s3?.redirect || !store.presignedUrl) return {};
  const ttlMs = s3.redirectTtlMs;
  return { presign: (digest) => store.presignedUrl!(digest, ttlMs) };
}
