import pg from 'pg';
import { tagPgError } from './pg-pool.js';

/**
 * Session-level advisory locks on one dedicated PostgreSQL connection per replica (issue
 * 13): who fills a blob cluster-wide, and which blobs a replica is sending right now. A
 * session lock lives exactly as long as the connection, so a replica that dies (SIGKILL,
 * power loss) gives up every lock it held the moment the server sees the connection close;
 * nothing has to expire. Locks are keyed (space, key): two int4, so the spaces never
 * collide with the index's bigint locks (pg-pool.ts, pg-migrate.ts).
 *
 * The connection is opened at the first call and again after it is lost; a call that gets
 * no answer within LOCK_CALL_TIMEOUT_MS rejects and drops the connection. Losing it loses
 * every lock: `generation` is bumped and the onLost listeners are told, and an unlock of
 * a lock taken under an older generation does nothing (that lock is already gone).
 */
export const LOCK_SPACE = {
  /** The replica fetching a blob from its upstream (exclusive). */
  fill: 0x726d0001,
  /** A replica sending the blob to a client (shared); a delete takes it exclusively. */
  pin: 0x726d0002,
} as const;

/**
 * The int4 key of a digest: the first 8 hex digits of its hash, signed. Two digests may
 * share one (1 in 2^32): a lock then covers both, which only makes a caller more careful
 * (wait, skip a delete), never less.
 */
export function digestLockKey(digest: string): number {
  const hex = digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 9);
  return /^[0-9a-f]{8}$/.test(hex) ? Number.parseInt(hex, 16) | 0 : 0;
}

export interface LockSession {
  /** Takes the exclusive lock if nobody holds it (in any mode); never waits. */
  tryLock(space: number, key: number): Promise<boolean>;
  /** Takes the lock shared if nobody holds it exclusively; never waits. */
  tryLockShared(space: number, key: number): Promise<boolean>;
  /** Gives back one exclusive hold taken under `generation` (a lost connection already gave it back). */
  unlock(space: number, key: number, generation: number): Promise<void>;
  /** Gives back one shared hold taken under `generation`. */
  unlockShared(space: number, key: number, generation: number): Promise<void>;
  /** Bumped at every lost connection: locks taken under an older one are gone. */
  readonly generation: number;
  /** Told when the connection (and with it every lock) is lost. */
  onLost(listener: () => void): void;
  close(): Promise<void>;
}

/**
 * How long a lock call may take. Past it the connection counts as hung (a server gone
 * silent, a connection a firewall dropped without a word): it is destroyed, so every later
 * call gets a fresh one instead of queueing behind the stuck query, and its locks count as
 * lost (the server drops them when it notices, TCP keepalive bounding that).
 */
export const LOCK_CALL_TIMEOUT_MS = 3000;

/** A lock session on the server at `url`; nothing connects until the first call. */
export function openLockSession(url: string, callTimeoutMs = LOCK_CALL_TIMEOUT_MS): LockSession {
  let client: Promise<pg.Client> | undefined;
  let generation = 0;
  let closed = false;
  const listeners: Array<() => void> = [];

  const lost = (c: pg.Client) => {
    if (!client) return;
    void client.then((current) => {
      if (current !== c) return;
      client = undefined;
      generation++;
      // The socket itself: end() would wait for a server that may never answer.
      (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      c.end().catch(() => {});
      for (const l of listeners) l();
    }, () => {});
  };

  const connected = (): Promise<pg.Client> => {
    if (closed) return Promise.reject(tagPgError(new Error('lock session closed')));
    client ??= (async () => {
      const c = new pg.Client({
        connectionString: url, application_name: 'registry-mirror-locks', connectionTimeoutMillis: callTimeoutMs,
        // A peer that vanished is noticed within about a minute, not the OS's two hours.
        keepAlive: true, keepAliveInitialDelayMillis: 10_000,
      });
      c.on('error', () => lost(c));
      c.on('end', () => lost(c));
      try {
        await c.connect();
        return c;
      } catch (err) {
        client = undefined;
        c.end().catch(() => {});
        throw tagPgError(err);
      }
    })();
    return client;
  };

  const ask = async (sql: string, space: number, key: number): Promise<boolean> => {
    const c = await connected();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        lost(c);
        reject(tagPgError(new Error(`the lock session did not answer within ${callTimeoutMs} ms`)));
      }, callTimeoutMs);
    });
    try {
      const res = await Promise.race([c.query<{ ok: boolean }>(sql, [space, key]), late]);
      return res.rows[0]?.ok === true;
    } catch (err) {
      throw tagPgError(err);
    } finally {
      clearTimeout(timer);
    }
  };

  const give = async (sql: string, space: number, key: number, gen: number): Promise<void> => {
    if (gen !== generation || !client) return;
    await ask(sql, space, key).catch(() => {});
  };

  return {
    get generation() { return generation; },
    tryLock: (space, key) => ask('SELECT pg_try_advisory_lock($1::int4, $2::int4) AS ok', space, key),
    tryLockShared: (space, key) => ask('SELECT pg_try_advisory_lock_shared($1::int4, $2::int4) AS ok', space, key),
    unlock: (space, key, gen) => give('SELECT pg_advisory_unlock($1::int4, $2::int4) AS ok', space, key, gen),
    unlockShared: (space, key, gen) => give('SELECT pg_advisory_unlock_shared($1::int4, $2::int4) AS ok', space, key, gen),
    onLost(listener) { listeners.push(listener); },
    async close() {
      closed = true;
      const c = client;
      client = undefined;
      const current = await c?.catch(() => undefined);
      await current?.end().catch(() => {});
    },
  };
}
