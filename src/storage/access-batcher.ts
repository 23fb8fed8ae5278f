import type { AccessBatch, AccessLog } from './ports.js';

/**
 * Access bookkeeping (last access, hits) noted in memory per request and written as one
 * batch every few seconds: a cache hit costs a Map update, never a database write. It
 * sits above the AccessLog port, so every index backend gets the same batching.
 */
export class AccessBatcher {
  private blobs = new Map<string, { at: number; hits: number }>();
  private manifests = new Map<string, number>();

  constructor(private readonly log: AccessLog) {}

  /** Notes one access to a blob (a hit, for prune's eviction order). */
  touchBlob(digest: string, now: number): void {
    const a = this.blobs.get(digest);
    if (a) {
      if (now > a.at) a.at = now;
      a.hits++;
    } else this.blobs.set(digest, { at: now, hits: 1 });
  }

  touchManifest(digest: string, now: number): void {
    const at = this.manifests.get(digest);
    if (at === undefined || now > at) this.manifests.set(digest, now);
  }

  /** True when nothing is waiting to be written. */
  get empty(): boolean {
    return this.blobs.size === 0 && this.manifests.size === 0;
  }

  /** Takes what was noted so far, leaving the batcher empty. */
  take(): AccessBatch {
    const batch: AccessBatch = {
      blobs: Array.from(this.blobs, ([digest, a]) => ({ digest, at: a.at, hits: a.hits })),
      manifests: Array.from(this.manifests, ([digest, at]) => ({ digest, at })),
    };
    this.blobs = new Map();
    this.manifests = new Map();
    return batch;
  }

  /**
   * Writes what was noted through the port. On failure the batch is noted again (merged
   * with anything noted meanwhile), so a database hiccup delays bookkeeping, never loses it.
   */
  async flush(): Promise<void> {
    if (this.empty) return;
    const batch = this.take();
    try {
      await this.log.recordAccess(batch);
    } catch (err) {
      this.restore(batch);
      throw err;
    }
  }

  /** Notes a batch that could not be written again. */
  restore(batch: AccessBatch): void {
    for (const b of batch.blobs) {
      const a = this.blobs.get(b.digest);
      if (a) {
        a.at = Math.max(a.at, b.at);
        a.hits += b.hits;
      } else this.blobs.set(b.digest, { at: b.at, hits: b.hits });
    }
    for (const m of batch.manifests) this.touchManifest(m.digest, m.at);
  }
}
