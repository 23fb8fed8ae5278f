import { Hono } from 'hono';
import type { Metrics } from '../admin/metrics.js';
import { renderPrometheus } from '../admin/metrics.js';
import { OciError } from '../oci/errors.js';
import type { Logger } from '../log/logger.js';
import { createBlobProxy } from '../proxy/blobs.js';
import { createManifestProxy } from '../proxy/manifests.js';
import { createTagsProxy } from '../proxy/tags.js';
import { createRepositoryResolver } from '../routing/resolve-repository.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { RegistryIndex } from '../storage/registry-index.js';
import type { UpstreamClient } from '../upstream/client.js';
import { accessLog } from './access-log.js';
import type { AppEnv } from './app-env.js';
import { createBlobHandler, refuseUpload } from './blob-routes.js';
import { createErrorHandler, errorResponse } from './errors.js';
import { createManifestHandler } from './manifest-routes.js';
import { API_VERSION } from './respond.js';
import { createTagsHandler } from './tag-routes.js';
import { parseV2Path } from './v2-path.js';

export interface AppDeps {
  index: RegistryIndex;
  store: BlobStore;
  upstream: UpstreamClient;
  metrics: Metrics;
  log: Logger;
  accessLog: boolean;
  maxManifestBytes: number;
  now?: () => number;
}

/**
 * Composes the registry: /v2/ (the OCI distribution API), /healthz, /metrics and
 * /admin/stats. Dependencies come in, so tests can hand in a fake upstream or a
 * temp-dir store.
 */
export function createApp(deps: AppDeps) {
  const { index, store, metrics, log } = deps;
  const resolver = createRepositoryResolver(deps.upstream);
  const manifests = createManifestProxy({ index, metrics, log, maxManifestBytes: deps.maxManifestBytes, now: deps.now });
  const blobs = createBlobProxy({ store, index, metrics, log, now: deps.now });
  const tags = createTagsProxy({ index, metrics, log });
  const onManifest = createManifestHandler({ resolver, manifests, metrics });
  const onBlob = createBlobHandler({ resolver, blobs, metrics });
  const onTags = createTagsHandler({ resolver, tags });

  const app = new Hono<AppEnv>();
  app.onError(createErrorHandler(log));
  if (deps.accessLog) app.use('/v2/*', accessLog(log));

  app.all('/v2/*', async (c) => {
    const route = parseV2Path(c.req.path);
    const method = c.req.method;
    switch (route.kind) {
      case 'ping':
        // dockerd and containerd probe this first; anonymous pulls need no challenge.
        return new Response('{}', { status: 200, headers: { ...API_VERSION, 'Content-Type': 'application/json' } });
      case 'manifest':
        return onManifest(c, route.name, route.reference);
      case 'blob':
        return onBlob(c, route.name, route.digest);
      case 'tags':
        if (method !== 'GET' && method !== 'HEAD') break;
        return onTags(c, route.name);
      case 'upload-start':
      case 'upload':
        return refuseUpload(route.name);
      default:
        break;
    }
    return errorResponse(c, new OciError('UNSUPPORTED', { status: 404, message: 'no such endpoint', detail: { method, path: c.req.path } }));
  });

  app.get('/healthz', (c) => {
    index.stats();
    return c.json({ status: 'ok' });
  });

  app.get('/metrics', (c) => {
    const s = index.stats();
    const body = renderPrometheus(metrics, {
      mirror_blobs: s.blobs, mirror_blob_bytes: s.blobBytes, mirror_manifests: s.manifests, mirror_tags: s.tags,
      mirror_blob_fills_in_progress: blobs.fills.size,
    });
    return c.text(body, 200, { 'Content-Type': 'text/plain; version=0.0.4' });
  });

  app.get('/admin/stats', (c) => c.json({ index: index.stats(), fillsInProgress: blobs.fills.size, ...metrics }));

  app.notFound((c) => errorResponse(c, new OciError('UNSUPPORTED', { status: 404, message: 'no such endpoint' })));
  return app;
}
