import { describe, expect, it, vi } from 'vitest';
import { silentLogger, type Logger } from '../log/logger.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { FillRow, FillRows } from '../storage/pg-fills.js';
import type { LockSession } from '../storage/pg-lock-session.js';
import { ClusterFills } from './cluster-fills.js';
import type { PeerClient } from './peer-client.js';

const SELF = 'http://10.0.0.1:5000';
const PEER = 'http://10.0.0.2:5000';
const D = `sha256:${'a'.repeat(64)}`;

/** A lock session over an in-memory table of holders (this session only), or one whose server is down. */
function fakeLocks(options: { down?: boolean; heldElsewhere?: boolean } = {}) {
  const calls: string[] = [];
  let holds = 0;
  const locks: LockSession = {
    generation: 0,
    async tryLock() {
      if (options.down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'PG_UNAVAILABLE' });
      calls.push('lock');
      if (options.heldElsewhere) return false;
      holds++;
      return true;
    },
    async tryLockShared() { return true; },
    async unlock() { calls.push('unlock'); holds--; },
    async unlockShared() {},
    onLost() {},
    async close() {},
  };
  return { locks, calls, holds: () => holds };
}

function fakeRows(calls: string[] = []) {
  const table = new Map<string, FillRow>();
  const rows: FillRows = {
    async put(digest, row) { calls.push('put'); table.set(digest, row); },
    async get(digest) { return table.get(digest); },
    async remove(digest, owner) { calls.push('remove'); if (table.get(digest)?.ownerUrl === owner) table.delete(digest); },
  };
  return { rows, table };
}

function cluster(locks: LockSession, rows: FillRows, log: Logger = silentLogger) {
  const peers: PeerClient = { open: async () => undefined, close: async () => {} };
  return new ClusterFills({
    cluster: { selfUrl: SELF, peers: [SELF, PEER], secret: 's'.repeat(32) },
    locks, keys: { fill: 1, key: () => 7 }, rows, peers, store: {} as BlobStore, log,
  });
}

describe('ClusterFills claims', () => {
  it('claims with the lock and a row naming this replica; releasing removes the row before unlocking', async () => {
    const l = fakeLocks();
    const r = fakeRows(l.calls);
    const c = cluster(l.locks, r.rows);
    const claim = await c.claim(D, 'docker.io/library/x');
    expect(claim?.kind).toBe('mine');
    expect(r.table.get(D)).toEqual({ ownerUrl: SELF, repo: 'docker.io/library/x' });
    await claim!.release();
    await claim!.release(); // once only
    expect(l.calls).toEqual(['lock', 'put', 'remove', 'unlock']);
    expect(r.table.size).toBe(0);
  });

  it('keeps the row while another hold of the same digest (another upstream) runs here', async () => {
    const l = fakeLocks();
    const r = fakeRows();
    const c = cluster(l.locks, r.rows);
    const a = await c.claim(D, 'docker.io/x');
    const b = await c.claim(D, 'ghcr.io/x');
    await a!.release();
    expect(r.table.has(D)).toBe(true);
    await b!.release();
    expect(r.table.has(D)).toBe(false);
    expect(l.holds()).toBe(0);
  });

  it('answers undefined when another replica holds the lock, and "alone" (logged) when the lock session is down', async () => {
    expect(await cluster(fakeLocks({ heldElsewhere: true }).locks, fakeRows().rows).claim(D, 'r')).toBeUndefined();
    const warned: string[] = [];
    const log = { ...silentLogger, warn: (m: string) => { warned.push(m); } };
    const alone = await cluster(fakeLocks({ down: true }).locks, fakeRows().rows, log).claim(D, 'r');
    expect(alone?.kind).toBe('alone');
    expect(warned.join()).toMatch(/without a cluster-wide claim/);
  });

  it('treats a lock session that does not answer as unreachable, and gives back a lock it wins too late', async () => {
    vi.useFakeTimers();
    try {
      const l = fakeLocks();
      let answer!: (ok: boolean) => void;
      l.locks.tryLock = () => new Promise((resolve) => { answer = resolve; });
      const pending = cluster(l.locks, fakeRows().rows).claim(D, 'r');
      await vi.advanceTimersByTimeAsync(3000);
      expect((await pending)?.kind).toBe('alone');
      answer(true);
      await vi.advanceTimersByTimeAsync(0);
      expect(l.calls).toEqual(['unlock']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('names an owner only when the row names a configured peer other than itself', async () => {
    const r = fakeRows();
    const c = cluster(fakeLocks().locks, r.rows);
    expect(await c.owner(D)).toBeUndefined();
    r.table.set(D, { ownerUrl: SELF, repo: 'r' });
    expect(await c.owner(D)).toBeUndefined();
    r.table.set(D, { ownerUrl: 'http://169.254.169.254', repo: 'r' });
    expect(await c.owner(D)).toBeUndefined();
    r.table.set(D, { ownerUrl: `${PEER}/`, repo: 'r' });
    expect(await c.owner(D)).toBeUndefined();
    r.table.set(D, { ownerUrl: PEER, repo: 'r' });
    expect(await c.owner(D)).toEqual({ url: PEER, repo: 'r' });
  });
});
