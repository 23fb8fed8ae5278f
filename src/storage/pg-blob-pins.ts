import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log/logger.js';
import { digestLockKey, LOCK_SPACE, type LockSession } from './pg-lock-session.js';

/**
 * The cluster side of OpenBlobs (issue 13): while this replica sends a blob, it holds a
 * shared advisory lock on it (LOCK_SPACE.pin) on its lock session, so that prune, gc,
 * retention and evict on any replica (which take the lock exclusively before deleting a
 * blob's row and object: DeletePins) skip it instead of cutting the transfer.
 *
 * One lock per digest however many local sends it has (OpenBlobs counts them): taken on
 * the first send, given back after the last. A pin refused because a delete holds the lock
 * right now is asked again for a while (a delete holds it until that blob's object is
 * gone); past that the request is refused (503, retry) rather than sent unpinned: a
 * fill that went ahead could find the doomed object still there, skip its upload and
 * record a row the delete then leaves without an object. When PostgreSQL cannot be
 * reached, no delete can run either: the blob is sent unpinned (availability over perfect
 * pins), logged once. A lost session loses every pin: each open digest is pinned again on
 * the new connection.
 */
/** As the fill claims (proxy/cluster-fills.ts): past this a lock session counts as unreachable. */
const PIN_TIMEOUT_MS = 3000;
/** How long a send waits for a delete that holds its blob's pin before it is refused. */
const DELETE_WAIT_MS = 15_000;

/** A pin's outcome: held under that generation, refused because a delete held it too long ('busy'), or not taken (unavailable, superseded). */
export type PinOutcome = number | 'busy' | undefined;

export class ClusterPins {
  /** The generation each open digest is pinned under (undefined: not pinned), as a promise the first send awaits. */
  private readonly held = new Map<string, Promise<PinOutcome>>();
  /** The attempt whose pin counts, by digest: an attempt superseded (a lost session re-pins) or unpinned meanwhile gives its lock back. */
  private readonly current = new Map<string, symbol>();
  private warned = false;

  constructor(private readonly session: LockSession, private readonly log: Logger, private readonly retryMs = DELETE_WAIT_MS) {
    session.onLost(() => {
      for (const digest of this.held.keys()) this.held.set(digest, this.take(digest));
    });
  }

  /** Pins `digest` (its first local send); resolves once the pin is held or given up. */
  pin(digest: string): Promise<PinOutcome> {
    const p = this.take(digest);
    this.held.set(digest, p);
    return p;
  }

  /** Resolves when the pin of an open digest is held or given up (a later send of it waits here). */
  ready(digest: string): Promise<PinOutcome> | undefined {
    return this.held.get(digest);
  }

  /** Gives the pin of `digest` back (its last local send ended). */
  unpin(digest: string): void {
    const p = this.held.get(digest);
    this.held.delete(digest);
    this.current.delete(digest);
    void p?.then((gen) => {
      if (typeof gen === 'number') return this.session.unlockShared(LOCK_SPACE.pin, digestLockKey(digest), gen);
      return undefined;
    });
  }

  private async take(digest: string): Promise<PinOutcome> {
    const key = digestLockKey(digest);
    const me = Symbol(digest);
    this.current.set(digest, me);
    const until = Date.now() + this.retryMs;
    try {
      for (let wait = 10; ; wait = Math.min(wait * 2, 200)) {
        if (this.current.get(digest) !== me) return undefined;
        const gen = this.session.generation;
        if (await this.answered(this.session.tryLockShared(LOCK_SPACE.pin, key), key, gen)) {
          if (this.current.get(digest) === me) return gen;
          // Superseded while it asked: only one hold per digest may count.
          await this.session.unlockShared(LOCK_SPACE.pin, key, gen);
          return undefined;
        }
        // A delete holds it exclusively: it either finishes (the blob is gone, the lookup after
        // the pin sees a clean miss) or skips nothing we need; either way it ends soon.
        if (Date.now() >= until) break;
        await sleep(wait);
      }
      this.log.warn('a blob request is refused: a delete on another replica held its pin too long', { digest });
      return 'busy';
    } catch (err) {
      this.warnOnce('a blob is sent unpinned: the lock session is unavailable', digest, err);
    }
    return undefined;
  }

  /**
   * The lock's answer, or an error when PostgreSQL does not answer within PIN_TIMEOUT_MS
   * (a hung server must not hang the pull); a pin granted after that is given back.
   */
  private async answered(attempt: Promise<boolean>, key: number, gen: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), PIN_TIMEOUT_MS); });
    const got = await Promise.race([attempt, late]).finally(() => clearTimeout(timer));
    if (got !== 'late') return got;
    attempt.then((ok) => { if (ok) void this.session.unlockShared(LOCK_SPACE.pin, key, gen); }, () => {});
    throw new Error(`no answer within ${PIN_TIMEOUT_MS} ms`);
  }

  private warnOnce(message: string, digest: string, error?: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.log.warn(message, { digest, ...(error ? { error } : {}) });
  }
}
