/**
 * Issue 13: the advisory lock session replicas coordinate through. Two sessions on one
 * server: an exclusive lock excludes the other session, shared locks share and exclude an
 * exclusive one, and a session whose connection dies (here: terminated by the server, as
 * when a replica is killed) gives every lock back at once and bumps its generation.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LOCK_SPACE, digestLockKey, openLockSession } from '../../src/storage/pg-lock-session.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTcpSwitch } from '../helpers/tcp-switch.js';

let server: TestPostgres;
let url: string;
beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase();
});
afterAll(async () => { await server?.stop(); });

const D = 'sha256:' + 'ab12cd34'.repeat(8);

describe('pg lock session', () => {
  test('digestLockKey is the signed first 32 bits of the hash; junk maps to 0', () => {
    expect(digestLockKey(D)).toBe(Number.parseInt('ab12cd34', 16) | 0);
    expect(digestLockKey(D)).toBeLessThan(0);
    expect(digestLockKey('sha256:zz')).toBe(0);
  });

  test('exclusive and shared locks across two sessions', async () => {
    const a = openLockSession(url);
    const b = openLockSession(url);
    try {
      const key = digestLockKey(D);
      expect(await a.tryLock(LOCK_SPACE.fill, key)).toBe(true);
      expect(await b.tryLock(LOCK_SPACE.fill, key)).toBe(false);
      // Another space, the same key: independent.
      expect(await b.tryLock(LOCK_SPACE.pin, key)).toBe(true);
      await b.unlock(LOCK_SPACE.pin, key, b.generation);
      await a.unlock(LOCK_SPACE.fill, key, a.generation);
      expect(await b.tryLock(LOCK_SPACE.fill, key)).toBe(true);
      await b.unlock(LOCK_SPACE.fill, key, b.generation);

      expect(await a.tryLockShared(LOCK_SPACE.pin, key)).toBe(true);
      expect(await b.tryLockShared(LOCK_SPACE.pin, key)).toBe(true);
      expect(await b.tryLock(LOCK_SPACE.pin, key)).toBe(false);
      await a.unlockShared(LOCK_SPACE.pin, key, a.generation);
      // b still shares it: a cannot take it exclusively; once b lets go, a can.
      expect(await a.tryLock(LOCK_SPACE.pin, key)).toBe(false);
      await b.unlockShared(LOCK_SPACE.pin, key, b.generation);
      expect(await a.tryLock(LOCK_SPACE.pin, key)).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a dead connection gives its locks back and bumps the generation; the session reconnects', async () => {
    const a = openLockSession(url);
    const b = openLockSession(url);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const key = digestLockKey(D);
      expect(await a.tryLock(LOCK_SPACE.fill, key)).toBe(true);
      const gen = a.generation;
      const lost = new Promise<void>((resolve) => a.onLost(resolve));
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'registry-mirror-locks' AND pid IN (
        SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2::oid)`, [LOCK_SPACE.fill, key >>> 0]);
      await lost;
      expect(a.generation).toBe(gen + 1);
      expect(await b.tryLock(LOCK_SPACE.fill, key)).toBe(true);
      // An unlock of the old generation does not touch anything; the session works again.
      await a.unlock(LOCK_SPACE.fill, key, gen);
      expect(await a.tryLock(LOCK_SPACE.fill, key)).toBe(false);
      await b.unlock(LOCK_SPACE.fill, key, b.generation);
      expect(await a.tryLock(LOCK_SPACE.fill, key)).toBe(true);
    } finally {
      await admin.end();
      await a.close();
      await b.close();
    }
  });

  test('a server gone silent: a call rejects within the timeout, the connection is dropped (generation bumped), and the next call works on a new one', async () => {
    const u = new URL(url);
    const sw = await startTcpSwitch(u.hostname, Number(u.port));
    u.hostname = sw.host;
    u.port = String(sw.port);
    const a = openLockSession(u.toString(), 300);
    try {
      const key = digestLockKey(D);
      expect(await a.tryLock(LOCK_SPACE.pin, key)).toBe(true);
      const gen = a.generation;
      sw.freeze();
      const started = Date.now();
      const err = await a.tryLock(LOCK_SPACE.fill, key).then(() => undefined, (e: unknown) => e);
      expect((err as { code?: string }).code).toBe('PG_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(2000);
      expect(a.generation).toBe(gen + 1);
      sw.thaw();
      expect(await a.tryLock(LOCK_SPACE.fill, key)).toBe(true);
      await a.unlock(LOCK_SPACE.fill, key, a.generation);
    } finally {
      await a.close();
      await sw.close();
    }
  });
});
