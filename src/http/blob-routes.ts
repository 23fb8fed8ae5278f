import type { Context } from 'hono';
import { parseDigest } from '../oci/digest.js';
import type { Metrics } from '../admin/metrics.js';
import type { Repository } from '../repository/repository.js';
import type { OpenBlobs } from '../storage/open-blobs.js';
import type { AppEnv } from './app-env.js';
import { API_VERSION, blobHeadResponse, sendBlob } from './respond.js';

/** /v2/<name>/blobs/<digest>: GET/HEAD (end-2, Range → 206), DELETE (end-10). */
export function createBlobHandler(deps: { metrics: Metrics; openBlobs?: OpenBlobs }) {
  const countBytes = (n: number) => { deps.metrics.bytesServed += n; };
  return async (c: Context<AppEnv>, repo: Repository, digestText: string): Promise<Response> => {
    const digest = parseDigest(digestText);
    const method = c.req.method;
    if (method === 'DELETE') {
      await repo.deleteBlob(digest);
      return new Response(null, { status: 202, headers: API_VERSION });
    }
    if (method === 'HEAD') {
      const info = await repo.statBlob(digest);
      return blobHeadResponse(c, digest.value, info.size, info.cache);
    }
    const src = await repo.openBlob(digest);
    return sendBlob(c, src, countBytes, deps.openBlobs);
  };
}
