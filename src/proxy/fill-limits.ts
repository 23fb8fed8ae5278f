import { OciError } from '../oci/errors.js';
import type { TransferLimits, UpstreamResponse } from '../upstream/client.js';

/**
 * Enforces a fill's deadline and minimum throughput by sampling `received()` on timers
 * (nothing per chunk): a violation destroys the upstream body with UPSTREAM_TIMEOUT, so the
 * fill's read loop fails, nothing is cached, followers are cut and the upstream slot is
 * released. Returns the function that stops the timers.
 */
export function watchFillLimits(res: UpstreamResponse, limits: TransferLimits, digest: string, received: () => number): () => void {
  const abort = (reason: string) => {
    res.body.destroy(new OciError('UPSTREAM_TIMEOUT', { message: 'upstream blob transfer too slow', detail: { digest, reason } }));
  };
  const timers: NodeJS.Timeout[] = [];
  if (limits.deadlineMs > 0) {
    timers.push(setTimeout(() => abort('fill deadline exceeded'), limits.deadlineMs));
  }
  if (limits.minBytesPerSecond > 0 && limits.windowMs > 0) {
    const minPerWindow = (limits.minBytesPerSecond * limits.windowMs) / 1000;
    let mark: number | undefined;
    // The first window is a grace period (TCP slow start, a cold CDN) and only sets the
    // mark; from then on every window must bring its share.
    timers.push(setInterval(() => {
      if (mark !== undefined && received() - mark < minPerWindow) abort('transfer below minimum throughput');
      mark = received();
    }, limits.windowMs));
  }
  for (const t of timers) t.unref();
  return () => {
    for (const t of timers) clearTimeout(t);
  };
}
