import { tryParseDigest, type Digest } from '../oci/digest.js';
import type { Logger } from '../log/logger.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';

/**
 * Starts the fill of one blob for a repository, unless it is on disk or already filling.
 * Resolves with the fill's outcome (awaited to hold the prefetch slot), or undefined when
 * nothing was started.
 */
export type StartPrefetch = (t: MirrorTarget, digest: Digest) => Promise<{ done: Promise<unknown> } | undefined>;

/** Queued prefetches beyond this are dropped: a prefetch is a hint, never owed. */
const MAX_QUEUED = 1000;

/**
 * Eager layer prefetch (issue 9): when an image manifest is fetched from the upstream for a
 * client, its config and layers are filled at once, for that same mirrored repository (so
 * the fill links exactly the repository it was fetched for: fail-closed linking unchanged),
 * at most `limit` at a time. Fills go through the blob proxy's single-flight map, so a
 * client asking for a blob being prefetched joins that fill (never a second upstream GET).
 * The upstream slots are FIFO without priorities, so the bound is what keeps client fills
 * from waiting behind prefetches: it stays small next to upstream.concurrency.
 * A failed prefetch is logged and affects no client. close() drops the queue; fills in
 * flight end with the upstream client (closed right after). No timers.
 */
export class Prefetcher {
  private queue: Array<{ t: MirrorTarget; digest: Digest; key: string }> = [];
  private readonly queued = new Set<string>();
  private running = 0;
  private closed = false;

  constructor(private readonly start: StartPrefetch, private readonly limit: number, private readonly log: Logger) {}

  /** Queues the blobs (digests as in the manifest) of an image manifest just fetched for `t`. */
  enqueue(t: MirrorTarget, digests: readonly string[]): void {
    if (this.limit <= 0 || this.closed) return;
    for (const value of digests) {
      const digest = tryParseDigest(value);
      const key = `${t.cacheRepo}@${value}`;
      if (!digest || this.queued.has(key) || this.queued.size >= MAX_QUEUED) continue;
      this.queued.add(key);
      this.queue.push({ t, digest, key });
    }
    this.pump();
  }

  /** Prefetches fetching now. */
  get inFlight(): number {
    return this.running;
  }

  /** Drops what is queued and starts nothing more (shutdown). */
  close(): void {
    this.closed = true;
    this.queue = [];
    this.queued.clear();
  }

  private pump(): void {
    while (!this.closed && this.running < this.limit && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.running++;
      void this.run(job.t, job.digest).finally(() => {
        this.queued.delete(job.key);
        this.running--;
        this.pump();
      });
    }
  }

  private async run(t: MirrorTarget, digest: Digest): Promise<void> {
    try {
      const started = await this.start(t, digest);
      await started?.done;
    } catch (err) {
      // The fill logs its own failure; this one is only the prefetch's.
      this.log.debug('prefetch failed', { repo: t.cacheRepo, digest: digest.value, error: err });
    }
  }
}
