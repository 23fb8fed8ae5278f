import type { Context } from 'hono';
import { parseDigest } from '../oci/digest.js';
import type { Metrics } from '../admin/metrics.js';
import type { BlobSource, Repository } from '../repository/repository.js';
import type { OpenBlobs } from '../storage/open-blobs.js';
import type { AppEnv } from './app-env.js';
import { API_VERSION, blobHeadResponse, sendBlob } from './respond.js';

/** /v2/<name>/blobs/<digest>: GET/HEAD (end-2, Range → 206), DELETE (end-10). */
export function createBlobHandler(deps: {
  metrics: Metrics;
  openBlobs?: OpenBlobs;
  /**
   * storage.s3.redirect (issue 13): a presigned GET URL of a blob complete in the store.
   * Absent for the file store, so its path pays one undefined check and nothing more.
   */
  presign?: (digest: string) => Promise<string>;
}) {
  const countBytes = (n: number) => { deps.metrics.bytesServed += n; };
  const { presign } = deps;
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
    // The auth decision, the access bookkeeping and the pull event (a hit) all happen in
    // openBlob, before any redirect: a redirect is a pull like any other.
    const src = await repo.openBlob(digest);
    if (presign !== undefined && src.cache !== 'MISS' && c.req.header('range') === undefined) {
      return redirectBlob(c, src, presign);
    }
    return sendBlob(c, src, countBytes, deps.openBlobs);
  };
}

/**
 * 307 to the store's presigned URL, as Distribution's redirect middleware answers. Only
 * a blob complete in the store (a HIT, or a local one): a MISS streams from its fill, and
 * a Range request is answered by the mirror (206) — the client asked the mirror for part
 * of the bytes, and one code path for ranges keeps Content-Range exactly as before.
 * The Location is a credential for one blob until it expires: it goes to the client only,
 * never to a log line.
 */
async function redirectBlob(c: Context<AppEnv>, src: BlobSource, presign: (digest: string) => Promise<string>): Promise<Response> {
  const location = await presign(src.digest);
  const headers: Record<string, string> = {
    ...API_VERSION,
    Location: location,
    'Docker-Content-Digest': src.digest,
    'Content-Length': '0',
    // The URL expires: a cache between client and mirror must not keep the redirect.
    'Cache-Control': 'no-store',
  };
  if (src.cache) {
    headers['X-Cache'] = src.cache;
    c.set('cache', src.cache);
  }
  return new Response(null, { status: 307, headers });
}
