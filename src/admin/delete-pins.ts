import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';

/**
 * The deleting side of the cluster pins (issue 13, storage/pg-blob-pins.ts): before prune,
 * gc, retention or evict removes a blob's index row and object, it takes the blob's pin
 * exclusively; a replica sending the blob holds it shared, so the delete is refused and the
 * blob skipped this run (row and object kept). Held until the object is gone: a reader
 * that pins meanwhile waits, then looks the blob up and sees a clean miss.
 *
 * A maintenance run opens its own lock session (one more connection, for the run only):
 * on the replica's own session, the replica's own shared pins would not conflict with it.
 */
export interface DeletePins {
  /**
   * Takes the pin of `digest` exclusively: the function that gives it back, or undefined
   * when a replica is sending the blob (or the lock session is unavailable): skip it.
   */
  lock(digest: string): Promise<(() => Promise<void>) | undefined>;
  /** Ends the run's lock session (every lock still held goes with it). */
  close(): Promise<void>;
}

/**
 * The run's pins on the PostgreSQL index's server, or undefined for a local index (SQLite:
 * one process sends and deletes, OpenBlobs is the whole truth). pg is imported only here.
 */
export async function openDeletePins(config: Config, log: Logger): Promise<DeletePins | undefined> {
  if (config.index.driver !== 'postgres') return undefined;
  const { openLockSession, LOCK_SPACE, digestLockKey } = await import('../storage/pg-lock-session.js');
  const session = openLockSession(config.index.url);
  let warned = false;
  return {
    async lock(digest) {
      const key = digestLockKey(digest);
      const gen = session.generation;
      try {
        if (!(await session.tryLock(LOCK_SPACE.pin, key))) return undefined;
      } catch (err) {
        // Not knowing who sends it, it stays: a delete can wait for the next run.
        if (!warned) log.warn('blob pins unavailable: blobs are kept this run', { error: err });
        warned = true;
        return undefined;
      }
      return () => session.unlock(LOCK_SPACE.pin, key, gen);
    },
    close: () => session.close(),
  };
}
