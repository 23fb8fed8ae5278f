import type { Context } from 'hono';
import { OciError } from '../oci/errors.js';
import { parseDigest } from '../oci/digest.js';
import type { Metrics } from '../admin/metrics.js';
import type { BlobProxy } from '../proxy/blobs.js';
import type { RepositoryResolver } from '../routing/resolve-repository.js';
import type { AppEnv } from './app-env.js';
import { blobHeadResponse, sendBlob } from './respond.js';

/** GET/HEAD /v2/<name>/blobs/<digest> (end-2), with Range (206). */
export function createBlobHandler(deps: { resolver: RepositoryResolver; blobs: BlobProxy; metrics: Metrics }) {
  const countBytes = (n: number) => { deps.metrics.bytesServed += n; };
  return async (c: Context<AppEnv>, name: string, digestText: string): Promise<Response> => {
    const target = deps.resolver.resolve(name, c.req.query('ns'));
    const method = c.req.method;
    if (method !== 'GET' && method !== 'HEAD') {
      throw new OciError('DENIED', { message: 'mirrored repositories are read-only', detail: { name } });
    }
    const digest = parseDigest(digestText);
    if (method === 'HEAD') {
      const info = await deps.blobs.head(target, digest);
      deps.metrics.cache.blob[info.cache]++;
      return blobHeadResponse(c, digest.value, info.size, info.cache);
    }
    const src = await deps.blobs.get(target, digest);
    deps.metrics.cache.blob[src.cache]++;
    return sendBlob(c, src, countBytes);
  };
}

/** Uploads to a mirrored repository: refused (local namespaces take pushes). */
export function refuseUpload(name: string): never {
  throw new OciError('DENIED', { message: 'mirrored repositories are read-only', detail: { name } });
}
