import type { Logger } from '../log/logger.js';
import type { BlobStore } from '../storage/blob-store.js';

/** How many files GC and prune unlink at the same time. */
export const DEFAULT_DELETE_CONCURRENCY = 32;

export interface DeleteOutcome {
  /** Files removed. */
  deleted: number;
  /** Already gone (another GC, or an operator). */
  missing: number;
  /** Could not be removed; logged. The rows are gone, so the mirror refetches or repairs. */
  failed: number;
}

/**
 * Deletes the files of blobs whose index rows are already gone, at most `concurrency` at
 * a time. A failure is logged and counted, never thrown: the rows are already deleted and
 * a file without a row is harmless (the mirror repairs the row on its next access).
 */
export async function deleteBlobFiles(
  store: BlobStore,
  digests: readonly string[],
  concurrency: number,
  log: Logger,
): Promise<DeleteOutcome> {
  const outcome: DeleteOutcome = { deleted: 0, missing: 0, failed: 0 };
  let next = 0;
  const worker = async () => {
    while (next < digests.length) {
      const digest = digests[next++]!;
      try {
        if (await store.delete(digest)) outcome.deleted++;
        else outcome.missing++;
      } catch (err) {
        outcome.failed++;
        log.warn('cannot delete blob file; its index row is already gone', { digest, error: err });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, digests.length)) }, worker));
  return outcome;
}
