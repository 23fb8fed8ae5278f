import { OciError } from '../oci/errors.js';
import type { ClusterPins } from './pg-blob-pins.js';

/**
 * Blobs being sent to a client right now, counted per digest (issue 11): background
 * retention skips them so that a pull in progress is never cut or left pointing at a
 * removed file. One Map update when a send starts and one when it ends; nothing per chunk.
 *
 * With a shared index (issue 13) it also has a cluster side (pg-blob-pins.ts): the first
 * send of a digest pins it on PostgreSQL and the last one unpins it, so that deletes on
 * every replica skip it too. Without one (the defaults) nothing more happens.
 */
export class OpenBlobs {
  private readonly open = new Map<string, number>();

  constructor(private readonly cluster?: ClusterPins) {}

  /** True when sends are pinned cluster-wide: the blob route then pins before it looks the blob up (pin()). */
  get clustered(): boolean {
    return this.cluster !== undefined;
  }

  /** Notes one more send of `digest`; call release(digest) exactly once when it ends. No allocation: on the blob hot path. */
  hold(digest: string): void {
    const n = this.open.get(digest) ?? 0;
    this.open.set(digest, n + 1);
    if (n === 0 && this.cluster) void this.cluster.pin(digest);
  }

  /**
   * hold(), resolving once the cluster pin is held (or given up): call it before the blob
   * is looked up, so that a delete elsewhere either is skipped or has finished and the
   * lookup sees a clean miss. Resolves at once without a cluster side. Rejects (503, the
   * hold released) when a delete holds the pin for too long.
   */
  async pin(digest: string): Promise<void> {
    this.hold(digest);
    if ((await this.cluster?.ready(digest)) === 'busy') {
      this.release(digest);
      throw new OciError('STORAGE_UNAVAILABLE', {
        message: 'this blob is being removed by maintenance on another replica; retry', detail: { digest }, headers: { 'Retry-After': '5' },
      });
    }
  }

  /** Notes the end of one send of `digest`. */
  release(digest: string): void {
    const n = (this.open.get(digest) ?? 1) - 1;
    if (n <= 0) {
      this.open.delete(digest);
      this.cluster?.unpin(digest);
    } else {
      this.open.set(digest, n);
    }
  }

  /** Whether any send of `digest` is in progress. */
  has(digest: string): boolean {
    return this.open.has(digest);
  }

  /** Sends in progress, all digests together. */
  get size(): number {
    let n = 0;
    for (const v of this.open.values()) n += v;
    return n;
  }
}
