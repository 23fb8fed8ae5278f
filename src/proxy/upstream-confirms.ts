import type { Metrics } from '../admin/metrics.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';
import { upstreamStatusError } from './upstream-status.js';

/**
 * Does the upstream have this digest in this repository? One HEAD (free against Docker
 * Hub's rate limit), asked before content fetched for another repository of the same
 * upstream is served or linked under this name (fail-closed linking, issue 7).
 * Throws what the upstream's failure means (unknown, 429, 502/504); false when its answer
 * names another digest or, for a blob whose size we know, another length.
 */
export async function upstreamConfirms(
  t: MirrorTarget,
  kind: 'manifest' | 'blob',
  digest: string,
  metrics: Pick<Metrics, 'upstreamRequests'>,
  size?: number,
): Promise<boolean> {
  metrics.upstreamRequests[kind === 'manifest' ? 'manifest_head' : 'blob_head']++;
  const res = kind === 'manifest'
    ? await t.upstream.manifest('HEAD', t.upstreamRepo, digest)
    : await t.upstream.blob('HEAD', t.upstreamRepo, digest);
  res.body.destroy();
  if (res.status !== 200) throw upstreamStatusError(res, kind === 'manifest' ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN', t.upstream.config.name);
  const claimed = res.headers['docker-content-digest'];
  if (claimed !== undefined && claimed !== digest) return false;
  return size === undefined || res.headers['content-length'] === String(size);
}
