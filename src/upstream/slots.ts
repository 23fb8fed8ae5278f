import PQueue from 'p-queue';

/**
 * Marks an upstream request as background work (eager prefetch, proxy/prefetch.ts): it
 * takes a slot only while no client request waits for one. promote() turns it into a
 * client request (a client now wants what it brings: it joined the prefetch's fill), so a
 * client never waits behind other clients' traffic because its bytes were asked for early.
 */
export class Background {
  private promoted = false;
  private onPromote: (() => void) | undefined;

  /** A client wants this now: it waits like a client request from here on. Idempotent. */
  promote(): void {
    if (this.promoted) return;
    this.promoted = true;
    const hook = this.onPromote;
    this.onPromote = undefined;
    hook?.();
  }

  get isPromoted(): boolean {
    return this.promoted;
  }

  /** Used by the slots: called once when promoted while waiting. */
  whenPromoted(hook: (() => void) | undefined): void {
    this.onPromote = hook;
  }
}

/**
 * A concurrency bound whose slots are held for as long as the holder wants, not just for
 * the duration of one async function: an upstream transfer keeps its slot until the
 * response body has ended, failed or been destroyed, which happens long after the
 * request promise resolved.
 */
export interface Slots {
  /**
   * Waits for a free slot; the returned release() frees it and is safe to call more than
   * once. With `background` (not promoted), the wait lasts as long as any client request
   * waits: a slot that frees goes to the oldest client waiter first, then the oldest
   * background one. A slot once taken is never taken back (a running prefetch goes on).
   */
  acquire(background?: Background): Promise<() => void>;
}

/** Client requests wait at this priority, background ones below it (p-queue: higher runs first, FIFO within one). */
const CLIENT = 1;
const BACKGROUND = 0;

/**
 * Creates `concurrency` slots on a p-queue whose tasks settle only on release(), so a slot
 * stays taken across the whole transfer. Background waiters queue at a lower priority and
 * are moved up (setPriority) when promoted.
 */
export function createSlots(concurrency: number): Slots {
  const queue = new PQueue({ concurrency });
  let ids = 0;
  return {
    acquire(bg) {
      const background = bg !== undefined && !bg.isPromoted;
      const id = String(ids++);
      return new Promise((resolveAcquire, rejectAcquire) => {
        let started = false;
        queue
          .add(
            () =>
              new Promise<void>((releaseSlot) => {
                started = true;
                bg?.whenPromoted(undefined);
                let released = false;
                resolveAcquire(() => {
                  if (released) return;
                  released = true;
                  releaseSlot();
                });
              }),
            { id, priority: background ? BACKGROUND : CLIENT },
          )
          .catch(rejectAcquire);
        // Promoted while still waiting: it now waits as a client request (at the back of them).
        if (background) bg.whenPromoted(() => { if (!started) queue.setPriority(id, CLIENT); });
      });
    },
  };
}
