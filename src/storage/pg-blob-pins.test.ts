import { describe, expect, test, vi } from 'vitest';
import { silentLogger, type Logger } from '../log/logger.js';
import { ClusterPins } from './pg-blob-pins.js';
import { OpenBlobs } from './open-blobs.js';
import { digestLockKey, LOCK_SPACE, type LockSession } from './pg-lock-session.js';

const D = `sha256:${'ab'.repeat(32)}`;

/** A lock session that records calls; `refuse` shared locks n times, or fail every call. */
function fakeSession(opts: { refuse?: number; fail?: boolean; hang?: boolean } = {}) {
  let refuse = opts.refuse ?? 0;
  const calls: string[] = [];
  const lost: Array<() => void> = [];
  const session: LockSession & { loseConnection(): void } = {
    generation: 0,
    async tryLock() { return true; },
    async tryLockShared(space, key) {
      calls.push(`lock ${space === LOCK_SPACE.pin && key === digestLockKey(D) ? 'pin' : '?'} gen${session.generation}`);
      if (opts.fail) throw new Error('connect ECONNREFUSED');
      if (opts.hang) return new Promise<boolean>(() => {});
      if (refuse > 0) { refuse--; return false; }
      return true;
    },
    async unlock() {},
    async unlockShared(_space, _key, gen) { calls.push(`unlock gen${gen}`); },
    onLost(l) { lost.push(l); },
    async close() {},
    loseConnection() {
      (session as { generation: number }).generation++;
      for (const l of lost) l();
    },
  };
  return { session, calls };
}

const settle = () => new Promise((r) => setTimeout(r, 5));

function recordingLog(): { log: Logger; warnings: string[] } {
  const warnings: string[] = [];
  return { log: { ...silentLogger, warn: (m: string) => { warnings.push(m); } } as Logger, warnings };
}

describe('cluster pins (OpenBlobs with a cluster side)', () => {
  test('one shared lock per digest however many sends: taken at the first, given back after the last', async () => {
    const { session, calls } = fakeSession();
    const open = new OpenBlobs(new ClusterPins(session, silentLogger));
    expect(open.clustered).toBe(true);
    await open.pin(D);
    await open.pin(D);
    open.hold(D);
    open.release(D);
    open.release(D);
    await settle();
    expect(calls).toEqual(['lock pin gen0']);
    open.release(D);
    await settle();
    expect(calls).toEqual(['lock pin gen0', 'unlock gen0']);
    expect(open.has(D)).toBe(false);
  });

  test('a pin refused while a delete holds it is asked again; the send waits for it', async () => {
    const { session, calls } = fakeSession({ refuse: 2 });
    const open = new OpenBlobs(new ClusterPins(session, silentLogger));
    await open.pin(D);
    expect(calls).toEqual(['lock pin gen0', 'lock pin gen0', 'lock pin gen0']);
  });

  test('refused past the retry window: the request is refused (503 with Retry-After, nothing held); the lock session unreachable: sent unpinned, warned once', async () => {
    const held = fakeSession({ refuse: 1_000 });
    const a = recordingLog();
    const open = new OpenBlobs(new ClusterPins(held.session, a.log, 50));
    const err = await open.pin(D).then(() => undefined, (e: unknown) => e) as { code?: string; status?: number; headers?: Record<string, string> } | undefined;
    expect(err?.code).toBe('STORAGE_UNAVAILABLE');
    expect(err?.headers?.['Retry-After']).toBe('5');
    expect(open.has(D)).toBe(false);
    await settle();
    expect(held.calls.some((c) => c.startsWith('unlock'))).toBe(false);
    expect(a.warnings).toHaveLength(1);

    const down = fakeSession({ fail: true });
    const b = recordingLog();
    const open2 = new OpenBlobs(new ClusterPins(down.session, b.log));
    await open2.pin(D);
    open2.release(D);
    await open2.pin(D);
    expect(b.warnings).toEqual(['a blob is sent unpinned: the lock session is unavailable']);
  });

  test('a lock session that does not answer: the send goes on unpinned after 3 s', async () => {
    vi.useFakeTimers();
    try {
      const { session } = fakeSession({ hang: true });
      const open = new OpenBlobs(new ClusterPins(session, silentLogger));
      let pinned = false;
      const p = open.pin(D).then(() => { pinned = true; });
      await vi.advanceTimersByTimeAsync(2900);
      expect(pinned).toBe(false);
      await vi.advanceTimersByTimeAsync(200);
      await p;
      expect(pinned).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  test('a lost lock session: open digests are pinned again on the new one, and given back under it', async () => {
    const { session, calls } = fakeSession();
    const open = new OpenBlobs(new ClusterPins(session, silentLogger));
    await open.pin(D);
    session.loseConnection();
    await settle();
    open.release(D);
    await settle();
    expect(calls).toEqual(['lock pin gen0', 'lock pin gen1', 'unlock gen1']);
  });

  test('without a cluster side nothing is locked and pin() resolves at once', async () => {
    const open = new OpenBlobs();
    expect(open.clustered).toBe(false);
    await open.pin(D);
    expect(open.has(D)).toBe(true);
    open.release(D);
    expect(open.size).toBe(0);
  });

  test('an attempt still retrying when the session is lost is superseded: one hold counts, and the last send gives back exactly the locks held', async () => {
    // Refused twice (a delete holds it), so the first attempt is asleep between retries when the connection goes.
    const { session, calls } = fakeSession({ refuse: 2 });
    const open = new OpenBlobs(new ClusterPins(session, silentLogger));
    const first = open.pin(D);
    await settle();
    session.loseConnection();
    await first;
    await new Promise((r) => setTimeout(r, 250));
    const granted = calls.filter((c) => c.startsWith('lock')).length - 2;
    open.release(D);
    await new Promise((r) => setTimeout(r, 20));
    const unlocks = calls.filter((c) => c.startsWith('unlock')).length;
    // Every lock granted on the live generation is given back: none is left to block deletes.
    expect(granted).toBeGreaterThanOrEqual(1);
    expect(unlocks).toBe(granted);
    expect(calls.filter((c) => c.startsWith('unlock')).every((c) => c === 'unlock gen1')).toBe(true);
  });
});
