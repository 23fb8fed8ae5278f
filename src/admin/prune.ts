import type { EventBus } from '../events/event-bus.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { MaintenanceIndex } from '../storage/ports.js';
import type { EvictableBlob } from '../storage/index-rows.js';
import { DEFAULT_DELETE_CONCURRENCY, deleteBlobFiles } from './blob-files.js';
import type { DeletePins } from './delete-pins.js';

export interface PruneOptions {
  /** Evict until all blobs together (pushed ones included) take at most this many bytes. */
  maxSize?: number;
  /** Evict every mirrored blob not accessed for this long (ms), whatever the total size. */
  olderThanMs?: number;
  /** Report what would be evicted; change nothing. */
  dryRun?: boolean;
  /** The clock (epoch ms); tests pass their own. */
  now?: number;
  /** Candidates listed, and rows deleted, per transaction. */
  batchSize?: number;
  /** Files unlinked at the same time. */
  concurrency?: number;
  log?: Logger;
  /** Where each eviction is announced (blob.evicted); nothing in a dry run. */
  events?: EventBus;
  /** Blobs that must stay whatever their age (being sent to a client right now): skipped and counted. */
  inUse?: (digest: string) => boolean;
  /** Told each blob evicted (or, in a dry run, that would be), in eviction order: the dry-run listing. */
  onEvict?: (blob: EvictableBlob) => void;
  /**
   * Issue 13: the cluster's pins (delete-pins.ts). Each candidate's pin is taken
   * exclusively as it is chosen; one another replica is sending is skipped and counted
   * like inUse. Held until the batch's objects are gone, so batches are small then.
   */
  pins?: DeletePins;
}

export interface PruneSummary {
  evicted: number;
  bytesFreed: number;
  /** Bytes of every blob the index still holds afterwards (or would, in a dry run). */
  remainingBytes: number;
  dryRun: boolean;
  /** Candidates kept because they were in use (only with options.inUse or options.pins). */
  skippedInUse?: number;
}

/** Big enough that each index page is rewritten about once per batch, small enough to hold the write lock only briefly (~0.2 s). */
const DEFAULT_BATCH_SIZE = 10_000;
/** With cluster pins: a batch's pins are held until its objects are deleted, and a reader asking for one waits that long. */
const PINNED_BATCH_SIZE = 64;

/**
 * Cache pruning: evicts mirrored blobs least recently accessed first (then fewest hits)
 * until the total is at most maxSize, and every one idle for olderThanMs, until nothing
 * evictable is left. Pushed content, and mirrored blobs linked into a local repository,
 * are never evicted.
 *
 * Safe beside a running server: each batch deletes its index rows in one transaction
 * (skipping any blob accessed since it was listed), then the files. A row therefore never
 * names a missing file; a reader that opened a file keeps reading it (Linux unlink
 * semantics), and a file whose row is gone is repaired by the mirror on its next access.
 */
export async function prune(index: MaintenanceIndex, store: BlobStore, options: PruneOptions): Promise<PruneSummary> {
  const { maxSize, olderThanMs } = options;
  if (maxSize === undefined && olderThanMs === undefined) throw new Error('prune needs maxSize or olderThanMs');
  const dryRun = options.dryRun ?? false;
  const pins = dryRun ? undefined : options.pins;
  const batchSize = Math.min(options.batchSize ?? DEFAULT_BATCH_SIZE, pins ? PINNED_BATCH_SIZE : Infinity);
  const concurrency = options.concurrency ?? DEFAULT_DELETE_CONCURRENCY;
  const log = options.log ?? silentLogger;
  const idleBefore = olderThanMs === undefined ? -Infinity : (options.now ?? Date.now()) - olderThanMs;

  let remainingBytes = (await index.stats()).blobBytes;
  let evicted = 0;
  let bytesFreed = 0;
  let skippedInUse = 0;
  let after: EvictableBlob | undefined;
  for (;;) {
    const page = await index.listEvictableBlobs(batchSize, after);
    // Candidates come oldest first: once one is neither idle enough nor needed for size,
    // no later one is either.
    const chosen: EvictableBlob[] = [];
    const unlocks: Array<() => Promise<void>> = [];
    let projected = remainingBytes;
    let examined = 0;
    try {
      for (const b of page) {
        if (!(b.lastAccess < idleBefore || (maxSize !== undefined && projected > maxSize))) break;
        examined++;
        after = b;
        // Kept (the next one is judged in its place), and not listed again by the next page.
        if (options.inUse?.(b.digest)) {
          skippedInUse++;
          continue;
        }
        if (pins) {
          const unlock = await pins.lock(b.digest);
          if (!unlock) {
            skippedInUse++;
            continue;
          }
          unlocks.push(unlock);
        }
        chosen.push(b);
        projected -= b.size;
      }
      if (examined === 0) break;

      if (dryRun) {
        evicted += chosen.length;
        bytesFreed += remainingBytes - projected;
        if (options.onEvict) for (const b of chosen) options.onEvict(b);
        remainingBytes = projected;
      } else {
        // A blob accessed since it was listed keeps its row (and file); the next page then
        // starts at the first candidate not chosen, judged again against the real total.
        const deleted = new Set(chosen.length === 0 ? [] : await index.deleteEvictableBlobs(chosen));
        for (const b of chosen) {
          if (!deleted.has(b.digest)) continue;
          evicted++;
          bytesFreed += b.size;
          remainingBytes -= b.size;
          options.events?.emit('blob.evicted', { digest: b.digest, size: b.size });
          options.onEvict?.(b);
        }
        await deleteBlobFiles(store, [...deleted], concurrency, log);
      }
    } finally {
      // Only now: a reader pinning meanwhile waited, and its lookup sees the row gone.
      await Promise.all(unlocks.map((u) => u()));
    }
    if (examined === page.length && page.length < batchSize) break;
  }
  return { evicted, bytesFreed, remainingBytes, dryRun, ...(options.inUse || pins ? { skippedInUse } : {}) };
}
