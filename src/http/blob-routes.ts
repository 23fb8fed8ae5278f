import type { Context } from 'hono';
import { parseDigest, type Digest } from '../oci/digest.js';
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
    if (deps.openBlobs?.clustered) return pinnedGet(c, repo, digest);
    // The auth decision, the access bookkeeping and the pull event (a hit) all happen in
    // openBlob, before any redirect: a redirect is a pull like any other.
    const src = await repo.openBlob(digest);
    if (presign !== undefined && src.cache !== 'MISS' && c.req.header('range') === undefined) {
      return redirectBlob(c, src, presign);
    }
    return sendBlob(c, src, countBytes, deps.openBlobs);
  };

  /**
   * A GET on a replica of a cluster (issue 13): the blob is pinned cluster-wide before it is
   * looked up, so a prune or gc on any replica either skips it or has already removed its
   * row and object (then the lookup is a clean miss and a mirrored blob is fetched again):
   * never an object deleted under a transfer. sendBlob holds it again for the transfer
   * itself, so this hold only bridges the lookup and is given back as soon as sendBlob
   * returns (the count never drops to zero in between).
   */
  async function pinnedGet(c: Context<AppEnv>, repo: Repository, digest: Digest): Promise<Response> {
    const reads = deps.openBlobs!;
    await reads.pin(digest.value);
    try {
      const src = await repo.openBlob(digest);
      // A presigned URL is fetched from the store directly: no pin can cover it.
      if (presign !== undefined && src.cache !== 'MISS' && c.req.header('range') === undefined) {
        return await redirectBlob(c, src, presign);
      }
      return await sendBlob(c, src, countBytes, reads);
    } finally {
      reads.release(digest.value);
    }
  }
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
