import type pg from 'pg';
import type { StoragePorts } from './ports.js';
import { migratePg } from './pg-migrate.js';
import { createPgPool, type Queryable } from './pg-pool.js';
import { pgCorePorts } from './pg-ops.js';
import { pgLeasePorts } from './pg-lease.js';
import { pgGcPorts } from './pg-maintenance.js';
import { pgStatsPorts } from './pg-stats.js';
import { pgEvictPorts } from './pg-evict.js';
import { pgBrowsePorts } from './pg-browse.js';
import { listenTagChanges } from './pg-tag-notify.js';
import { pgFillRows, type FillRows } from './pg-fills.js';
import { pgUploadPorts } from './pg-uploads.js';

/**
 * The PostgreSQL index (issue 13, `index.driver: postgres`) as the async storage ports:
 * one bounded pool shared by several replicas' worth of the same schema. Loaded only by a
 * dynamic import in createCore when configured, so `pg` never weighs on the default.
 */
export interface PgStorage {
  ports: StoragePorts;
  close(): Promise<void>;
  /** For /readyz: undefined when the database answers a trivial query, else why not (no address). */
  ready(): Promise<string | undefined>;
  /** Issue 13 (cluster): who fetches which blob (pg-fills.ts), for the cluster's fill claims. */
  fills: FillRows;
}

/** The database could not be opened: names index.url, never its password. */
export class IndexConnectError extends Error {
  constructor(readonly url: string, cause: unknown) {
    super(`index.url: cannot open the PostgreSQL index at ${redactUrl(url)}: ${reason(cause, url)}`, { cause });
    this.name = 'IndexConnectError';
  }
}

/** The URL with its password replaced (for logs and errors). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

/** The driver's message (and code), with the URL's password taken out should it appear. */
function reason(err: unknown, url: string): string {
  const code = (err as { code?: unknown })?.code;
  let message = err instanceof Error ? err.message : String(err);
  let password = '';
  try {
    password = new URL(url).password;
  } catch { /* no password to hide */ }
  for (const p of new Set([password, safeDecode(password)])) if (p) message = message.split(p).join('***');
  return `${message}${typeof code === 'string' ? ` (${code})` : ''}`;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * A pool of `size` on url with the schema brought up to date (under an advisory lock):
 * what `serve` and `migrate-storage` open. A database it cannot reach fails fast, naming
 * index.url and never its password; a schema newer than the code is IndexTooNewError.
 */
export async function openMigratedPool(url: string, size: number): Promise<pg.Pool> {
  const pool = createPgPool(url, size);
  try {
    await migratePg(pool);
  } catch (err) {
    await pool.end().catch(() => {});
    if ((err as Error)?.name === 'IndexTooNewError') throw err;
    throw new IndexConnectError(url, err);
  }
  return pool;
}

/** Opens the pool and migrates the database; then the ports, and one LISTEN connection. */
export async function openPgStorage(url: string, options: { poolSize?: number } = {}): Promise<PgStorage> {
  const pool = await openMigratedPool(url, options.poolSize ?? 10);
  const core = pgCorePorts(pool);
  // One connection outside the pool, LISTENing for other replicas' tag changes.
  const changes = listenTagChanges(url);
  await changes.ready;
  return {
    ports: {
      ...core,
      tags: { ...core.tags, onTagChanged: changes.onTagChanged },
      maintenance: { ...pgGcPorts(pool), ...pgStatsPorts(pool), ...pgEvictPorts(pool), ...pgLeasePorts(pool) },
      browse: pgBrowsePorts(pool),
      uploads: pgUploadPorts(pool),
    },
    close: async () => {
      await changes.close();
      await pool.end();
    },
    ready: () => pgReady(pool),
    fills: pgFillRows(pool),
  };
}

/** How long /readyz waits for the database: a probe slower than this is a failed one. */
const READY_TIMEOUT_MS = 3000;

/** SELECT 1 within READY_TIMEOUT_MS; the reason names the engine and the SQLSTATE, never the URL. */
async function pgReady(pool: Queryable): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })), READY_TIMEOUT_MS);
  });
  try {
    await Promise.race([pool.query('SELECT 1'), timeout]);
    return undefined;
  } catch (err) {
    const code = (err as { code?: unknown })?.code;
    return `index unavailable (PostgreSQL: ${typeof code === 'string' ? code : 'error'})`;
  } finally {
    clearTimeout(timer);
  }
}
