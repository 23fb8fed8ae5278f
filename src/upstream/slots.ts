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

/** Creates `concurrency` slots: two FIFO queues of waiters, client requests before background ones. */
export function createSlots(concurrency: number): Slots {
  let active = 0;
  // Invariant: waiters exist only while every slot is taken (release hands a freed slot on at once).
  const clients: Array<() => void> = [];
  const background: Array<() => void> = [];

  const grant = (): (() => void) => {
    active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      active--;
      const next = clients.shift() ?? background.shift();
      next?.();
    };
  };

  return {
    acquire(bg) {
      if (active < concurrency) return Promise.resolve(grant());
      return new Promise((resolve) => {
        const waiter = () => {
          bg?.whenPromoted(undefined);
          resolve(grant());
        };
        if (!bg || bg.isPromoted) {
          clients.push(waiter);
          return;
        }
        background.push(waiter);
        bg.whenPromoted(() => {
          const i = background.indexOf(waiter);
          if (i < 0) return;
          background.splice(i, 1);
          clients.push(waiter);
        });
      });
    },
  };
}
