import type { EventBus } from '../events/event-bus.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { RegistryIndex } from '../storage/registry-index.js';
import { DEFAULT_DELETE_CONCURRENCY, deleteBlobFiles } from './blob-files.js';

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
}

export interface GcSummary {
  /** Manifests removed: linked to no repository and no child of a linked index. */
  manifests: number;
  /** Pushed blobs removed: referenced by no live manifest, older than the grace period. */
  blobs: number;
  bytesFreed: number;
  dryRun: boolean;
}

/**
 * Garbage collection: removes what nothing uses. First the index rows, in one transaction
 * (manifests no repository uses, then pushed blobs no remaining manifest references), then
 * the blob files, so that no row ever names a file that is gone. Mirrored blobs are a
 * cache and are left to prune (prune.ts).
 */
export async function collectGarbage(index: RegistryIndex, store: BlobStore, options: GcOptions): Promise<GcSummary> {
  const dryRun = options.dryRun ?? false;
  const now = options.now ?? Date.now();
  const { manifests, blobs } = index.collectGarbage(now - options.graceMs, dryRun);
  const bytesFreed = blobs.reduce((sum, b) => sum + b.size, 0);
  if (!dryRun) {
    await deleteBlobFiles(store, blobs.map((b) => b.digest), options.concurrency ?? DEFAULT_DELETE_CONCURRENCY,
      options.log ?? silentLogger);
    for (const digest of manifests) options.events?.emit('manifest.deleted', { digest });
    for (const b of blobs) options.events?.emit('blob.deleted', { digest: b.digest, size: b.size });
  }
  return { manifests: manifests.length, blobs: blobs.length, bytesFreed, dryRun };
}
