import PQueue from 'p-queue';

/**
 * A concurrency bound whose slots are held for as long as the holder wants, not just for
 * the duration of one async function: an upstream transfer keeps its slot until the
 * response body has ended, failed or been destroyed, which happens long after the
 * request promise resolved.
 */
export interface Slots {
  /** Waits for a free slot; the returned release() frees it and is safe to call more than once. */
  acquire(): Promise<() => void>;
}

/** Creates `concurrency` slots backed by a p-queue (FIFO among waiters). */
export function createSlots(concurrency: number): Slots {
  const queue = new PQueue({ concurrency });
  return {
    acquire() {
      return new Promise((resolveAcquire, rejectAcquire) => {
        queue
          .add(
            // The queue task is a promise that settles only on release(), so the slot stays
            // taken across the whole transfer.
            () =>
              new Promise<void>((releaseSlot) => {
                let released = false;
                resolveAcquire(() => {
                  if (released) return;
                  released = true;
                  releaseSlot();
                });
              }),
          )
          .catch(rejectAcquire);
      });
    },
  };
}
