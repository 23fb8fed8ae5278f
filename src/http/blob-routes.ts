import type { Context } from 'hono';
import { parseDigest } from '../oci/digest.js';
import type { Metrics } from '../admin/metrics.js';
import type { EventBus } from '../events/event-bus.js';
import { emitBlobPull } from '../events/pull-events.js';
import type { BlobProxy } from '../proxy/blobs.js';
import type { LocalRegistry } from '../registry/local-registry.js';
import type { RepositoryTarget } from '../routing/resolve-repository.js';
import type { AppEnv } from './app-env.js';
import { API_VERSION, blobHeadResponse, sendBlob } from './respond.js';

/** /v2/<name>/blobs/<digest>: GET/HEAD (end-2, Range → 206), DELETE (end-10). */
export function createBlobHandler(deps: { blobs: BlobProxy; registry: LocalRegistry; metrics: Metrics; events: EventBus }) {
  const countBytes = (n: number) => { deps.metrics.bytesServed += n; };
  return async (c: Context<AppEnv>, target: RepositoryTarget, digestText: string): Promise<Response> => {
    const digest = parseDigest(digestText);
    const method = c.req.method;
    if (method === 'DELETE') {
      deps.registry.deleteBlob(target.name, digest);
      return new Response(null, { status: 202, headers: API_VERSION });
    }
    if (target.kind === 'local') {
      const src = await deps.registry.getBlob(target.name, digest);
      emitBlobPull(deps.events, method === 'HEAD', target, digest.value, src.size, undefined, c.get('user'));
      return method === 'HEAD' ? blobHeadResponse(c, digest.value, src.size) : sendBlob(c, src, countBytes);
    }
    if (method === 'HEAD') {
      const info = await deps.blobs.head(target, digest);
      emitBlobPull(deps.events, true, target, digest.value, info.size, info.cache, c.get('user'));
      return blobHeadResponse(c, digest.value, info.size, info.cache);
    }
    const src = await deps.blobs.get(target, digest);
    emitBlobPull(deps.events, false, target, digest.value, src.size, src.cache, c.get('user'));
    return sendBlob(c, src, countBytes);
  };
}
