import type { Context } from 'hono';
import type { Metrics } from '../admin/metrics.js';
import type { Logger } from '../log/logger.js';
import { tryParseDigest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import type { SharedFill } from '../proxy/blobs.js';
import type { ClusterFills } from '../proxy/cluster-fills.js';
import type { OpenBlobs } from '../storage/open-blobs.js';
import type { AppEnv } from './app-env.js';
import { errorResponse } from './errors.js';
import { sendBlob } from './respond.js';

/** Answers like an unknown route: a caller without a signature learns nothing of the endpoint. */
const NOT_HERE = () => new OciError('UNSUPPORTED', { status: 404, message: 'no such endpoint' });

/**
 * GET /internal/v1/fills/<digest> (issue 13): this replica's in-progress fill of a blob,
 * for another replica whose client asked for it (proxy/peer-client.ts). Its own auth
 * decision: a request signed with cluster.secret (proxy/cluster-auth.ts), else 401 with no
 * detail. The bytes are a follower of the fill (BlobFill.follow): the last byte only after
 * the digest is verified and the blob committed, and a failed fill cuts the stream. Range
 * is served (206) once the size is known. 404 when no fill of that digest runs here.
 * Mounted only when cluster.* is on; otherwise the path is an unknown route.
 */
export function createInternalFillHandler(deps: {
  cluster: Pick<ClusterFills, 'verify'>;
  fillOf(digest: string): SharedFill | undefined;
  metrics: Metrics;
  log: Logger;
  /**
   * Issue 13 (pins): a fill that closed before the peer came is read from the store, so the
   * stream is pinned as a client's is (blob-routes.ts): a prune elsewhere skips the blob.
   */
  openBlobs?: OpenBlobs;
}) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    // The request target exactly as received (no dot segments resolved, no query dropped):
    // the signature covers what the peer sent, before anything else is read.
    const target = c.env?.incoming?.url ?? new URL(c.req.url).pathname;
    if (!deps.cluster.verify(c.req.method, target, c.req.header('authorization'))) {
      return errorResponse(c, new OciError('UNAUTHORIZED'));
    }
    const digest = tryParseDigest(c.req.param('digest') ?? '');
    const pins = deps.openBlobs?.clustered ? deps.openBlobs : undefined;
    if (!digest || !pins) return stream(c, digest);
    await pins.pin(digest.value);
    try {
      return await stream(c, digest);
    } finally {
      pins.release(digest.value);
    }
  };

  async function stream(c: Context<AppEnv>, digest: ReturnType<typeof tryParseDigest>): Promise<Response> {
    const shared = digest && deps.fillOf(digest.value);
    if (!digest || !shared) return errorResponse(c, NOT_HERE());
    const fill = shared.fill;
    // A client (of another replica) waits for it now: a prefetch stops yielding its upstream slot.
    shared.background?.promote();
    try {
      await fill.ready;
    } catch {
      return errorResponse(c, NOT_HERE());
    }
    deps.metrics.cluster.peerStreamsServed++;
    deps.log.debug('streaming a fill to another replica', { digest: digest.value });
    return sendBlob(c, {
      digest: digest.value, size: fill.size,
      // A fill that failed since it was ready: nothing to send (the peer looks again).
      open: async (range) => { try { return fill.follow(range); } catch { throw NOT_HERE(); } },
    }, () => {}, deps.openBlobs);
  }
}
