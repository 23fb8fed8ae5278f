import { tryParseDigest, type Digest } from '../oci/digest.js';
import type { Metrics } from '../admin/metrics.js';
import type { Logger } from '../log/logger.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';

/**
 * Starts the fill of one blob for a repository, unless it is on disk or already filling.
 * Resolves with the fill's outcome (awaited to hold the prefetch slot), or undefined when
 * nothing was started.
 */
export type StartPrefetch = (t: MirrorTarget, digest: Digest) => Promise<{ done: Promise<unknown> } | undefined>;

export interface PrefetcherDeps {
  /** Starts a blob fill (proxy/blobs.ts prefetch). */
  blob: StartPrefetch;
  /**
   * Fetches and caches one platform manifest of an index (proxy/manifests.ts prefetch),
   * unless cached or being fetched; its config and layers then come back through enqueue().
   */
  manifest?: (t: MirrorTarget, digest: string) => Promise<unknown>;
  /** Prefetches at once (0: off). */
  limit: number;
  /**
   * Nothing is started while the upstream says fewer than this many requests are left of
   * its rate limit (upstream/rate-limit-budget.ts); 0: never skipped.
   */
  minBudget?: number;
  metrics?: Pick<Metrics, 'prefetchSkipped'>;
  log: Logger;
}

/** Queued prefetches beyond this are dropped: a prefetch is a hint, never owed. */
const MAX_QUEUED = 1000;

interface Job {
  kind: 'blob' | 'manifest';
  t: MirrorTarget;
  digest: Digest;
  key: string;
}

/**
 * Eager prefetch (issue 9): when an image manifest is fetched from the upstream for a
 * client, its config and layers are filled at once; when an index is, the platform
 * manifests chosen by proxy/prefetch-platforms.ts are fetched, then their blobs. Always
 * for that same mirrored repository (so a fill links exactly the repository it was
 * fetched for: fail-closed linking unchanged), at most `limit` at a time. Fills go through
 * the blob proxy's single-flight map (manifests through the manifest proxy's), so a client
 * asking for something being prefetched joins it: never a second upstream GET. Prefetches
 * take upstream slots only while no client request waits (upstream/slots.ts Background).
 * Skipped (and counted) while the upstream's rate-limit budget is low: a prefetch must not
 * spend the pulls clients need. A failed prefetch is logged, affects no client and is not
 * retried: the next fetch of the manifest from the upstream asks again. close() drops the
 * queue; fills in flight end with the upstream client (closed right after). No timers.
 */
export class Prefetcher {
  private queue: Job[] = [];
  private readonly queued = new Set<string>();
  private running = 0;
  private closed = false;

  constructor(private readonly deps: PrefetcherDeps) {}

  /** Queues the blobs (digests as in the manifest) of an image manifest just fetched for `t`. */
  enqueue(t: MirrorTarget, digests: readonly string[]): void {
    this.add('blob', t, digests);
  }

  /** Queues platform manifests (digests) of an index just fetched for `t`. */
  enqueueManifests(t: MirrorTarget, digests: readonly string[]): void {
    if (this.deps.manifest) this.add('manifest', t, digests);
  }

  /** Prefetches fetching now. */
  get inFlight(): number {
    return this.running;
  }

  /** Prefetches waiting for one of the `limit` places. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Drops what is queued and starts nothing more (shutdown). */
  close(): void {
    this.closed = true;
    this.queue = [];
    this.queued.clear();
  }

  private add(kind: Job['kind'], t: MirrorTarget, digests: readonly string[]): void {
    if (this.deps.limit <= 0 || this.closed) return;
    for (const value of digests) {
      const digest = tryParseDigest(value);
      const key = `${kind} ${t.cacheRepo}@${value}`;
      if (!digest || this.queued.has(key) || this.queued.size >= MAX_QUEUED) continue;
      this.queued.add(key);
      this.queue.push({ kind, t, digest, key });
    }
    this.pump();
  }

  private pump(): void {
    while (!this.closed && this.running < this.deps.limit && this.queue.length > 0) {
      const job = this.queue.shift()!;
      // Checked when it would start, not when queued: the budget moves meanwhile.
      if (job.t.upstream.rateLimit.isLow(this.deps.minBudget ?? 0)) {
        this.queued.delete(job.key);
        if (this.deps.metrics) this.deps.metrics.prefetchSkipped++;
        continue;
      }
      this.running++;
      void this.run(job).finally(() => {
        this.queued.delete(job.key);
        this.running--;
        this.pump();
      });
    }
  }

  private async run(job: Job): Promise<void> {
    try {
      if (job.kind === 'manifest') {
        await this.deps.manifest!(job.t, job.digest.value);
        return;
      }
      const started = await this.deps.blob(job.t, job.digest);
      await started?.done;
    } catch (err) {
      // The fill logs its own failure; this one is only the prefetch's.
      this.deps.log.debug('prefetch failed', { repo: job.t.cacheRepo, digest: job.digest.value, kind: job.kind, error: err });
    }
  }
}
