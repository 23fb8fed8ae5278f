import { LRUCache } from 'lru-cache';

/**
 * Counts failed password checks per key (a client address, a user name) in a fixed
 * window that starts with the key's first failure. A key with `max` failures (checks
 * still in flight count too, so that a burst of parallel guesses cannot all slip through
 * before the first one fails) is refused until its window ends. The table is an LRU of
 * bounded size: a flood of new keys evicts the oldest entries, it never grows memory.
 */
export interface FailureLimiter {
  /** Seconds (≥ 1) until `key` may try again, or 0 when it may try now. */
  retryAfter(key: string): number;
  /** A check for `key` starts; call the returned function with its outcome. */
  begin(key: string): (ok: boolean) => void;
}

export interface FailureLimiterOptions {
  /** Failures allowed per window; 0 disables the limit. */
  max: number;
  windowMs: number;
  /** Keys tracked at most. Default 10,000. */
  maxKeys?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  inflight: number;
  /** When the window of this entry ends (ms). */
  resetAt: number;
}

export function createFailureLimiter(opts: FailureLimiterOptions): FailureLimiter {
  const now = opts.now ?? Date.now;
  const entries = new LRUCache<string, Entry>({ max: opts.maxKeys ?? 10_000 });

  /** The live entry of `key`, dropping one whose window is over and that has nothing in flight. */
  function current(key: string): Entry | undefined {
    const e = entries.get(key);
    if (e && e.inflight === 0 && now() >= e.resetAt) {
      entries.delete(key);
      return undefined;
    }
    return e;
  }

  return {
    retryAfter(key) {
      if (opts.max <= 0) return 0;
      const e = current(key);
      if (!e || e.failures + e.inflight < opts.max) return 0;
      return Math.max(1, Math.ceil((e.resetAt - now()) / 1000));
    },

    begin(key) {
      if (opts.max <= 0) return () => {};
      let e = current(key);
      if (!e) {
        e = { failures: 0, inflight: 0, resetAt: now() + opts.windowMs };
        entries.set(key, e);
      }
      const entry = e;
      entry.inflight++;
      let done = false;
      return (ok) => {
        if (done) return;
        done = true;
        entry.inflight--;
        if (ok) return;
        // A failure after the window ended opens a new window.
        if (now() >= entry.resetAt) {
          entry.failures = 0;
          entry.resetAt = now() + opts.windowMs;
        }
        entry.failures++;
        if (!entries.has(key)) entries.set(key, entry);
      };
    },
  };
}
