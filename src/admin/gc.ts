import type { EventBus } from '../events/event-bus.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { MaintenanceIndex } from '../storage/ports.js';
import type { BlobRow } from '../storage/index-rows.js';
import { DEFAULT_DELETE_CONCURRENCY, deleteBlobFiles } from './blob-files.js';
import type { DeletePins } from './delete-pins.js';

export interface GcOptions {
  /**
   * Pushed blobs created or accessed less than this long ago (ms) are kept: an upload whose
   * manifest is not pushed yet looks exactly like garbage.
   */
  graceMs: number;
  /** Report what would be removed; change nothing. */
  dryRun?: boolean;
  /** The clock (epoch ms); tests pass their own. */
  now?: number;
  /** Files unlinked at the same time. */
  concurrency?: number;
  log?: Logger;
  /** Where each removal is announced (manifest.deleted, blob.deleted); nothing in a dry run. */
  events?: EventBus;
  /**
   * Issue 13: the cluster's pins (delete-pins.ts). A blob another replica is sending is
   * kept (row and object) and counted in skippedInUse; the others are deleted a small
   * chunk at a time, each pin held until its object is gone.
   */
  pins?: DeletePins;
}

export interface GcSummary {
  /** Manifests removed: linked to no repository and no child of a linked index. */
  manifests: number;
  /** Pushed blobs removed: referenced by no live manifest, older than the grace period. */
  blobs: number;
  bytesFreed: number;
  dryRun: boolean;
  /** Garbage blobs kept because a replica was sending them (only with options.pins): the next run takes them. */
  skippedInUse?: number;
}

/** Blobs deleted under their pins at a time: a reader asking for one waits at most that long. */
const PINNED_CHUNK = 64;

/**
 * Garbage collection: removes what nothing uses. First the index rows (manifests no
 * repository uses, then pushed blobs no remaining manifest references), then the blob
 * files, so that no row ever names a file that is gone.
 *
 * The policy is here; the index only lists and deletes. A pushed blob younger than the
 * grace period is kept (its manifest may not be pushed yet). Mirrored blobs are a cache,
 * left to prune (prune.ts), and never taken even if a backend listed one. The index
 * deletes only candidates still unused when it deletes them, so a push racing with GC
 * keeps what it references.
 */
export async function collectGarbage(index: MaintenanceIndex, store: BlobStore, options: GcOptions): Promise<GcSummary> {
  const dryRun = options.dryRun ?? false;
  const before = (options.now ?? Date.now()) - options.graceMs;
  const pushedOnly = (blobs: BlobRow[]) => blobs.filter((b) => b.origin === 'push');

  const unusedManifests = await index.listUnusedManifests();
  if (dryRun) {
    // Blobs used only by unused manifests are unused already: the listing counts live manifests only.
    const blobs = pushedOnly(await index.listUnusedPushedBlobs(before));
    return { manifests: unusedManifests.length, blobs: blobs.length, bytesFreed: sum(blobs), dryRun };
  }
  const manifests = await index.deleteUnusedManifests(unusedManifests);
  const candidates = pushedOnly(await index.listUnusedPushedBlobs(before));
  const deleteChunk = async (chunk: BlobRow[]): Promise<BlobRow[]> => {
    const deleted = new Set(await index.deleteUnusedPushedBlobs(chunk.map((b) => b.digest), before));
    const gone = chunk.filter((b) => deleted.has(b.digest));
    await deleteBlobFiles(store, gone.map((b) => b.digest), options.concurrency ?? DEFAULT_DELETE_CONCURRENCY,
      options.log ?? silentLogger);
    return gone;
  };
  let blobs: BlobRow[];
  let skippedInUse = 0;
  if (options.pins) {
    blobs = [];
    for (let i = 0; i < candidates.length; i += PINNED_CHUNK) {
      const locked: BlobRow[] = [];
      const unlocks: Array<() => Promise<void>> = [];
      try {
        for (const b of candidates.slice(i, i + PINNED_CHUNK)) {
          const unlock = await options.pins.lock(b.digest);
          if (unlock) {
            locked.push(b);
            unlocks.push(unlock);
          } else {
            skippedInUse++;
          }
        }
        if (locked.length > 0) blobs.push(...await deleteChunk(locked));
      } finally {
        await Promise.all(unlocks.map((u) => u()));
      }
    }
  } else {
    blobs = await deleteChunk(candidates);
  }
  for (const digest of manifests) options.events?.emit('manifest.deleted', { digest });
  for (const b of blobs) options.events?.emit('blob.deleted', { digest: b.digest, size: b.size });
  return { manifests: manifests.length, blobs: blobs.length, bytesFreed: sum(blobs), dryRun, ...(options.pins ? { skippedInUse } : {}) };
}

const sum = (blobs: readonly BlobRow[]) => blobs.reduce((total, b) => total + b.size, 0);
