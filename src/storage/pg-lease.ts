import type pg from 'pg';
import type { MaintenanceIndex } from './ports.js';
import { changes } from './pg-pool.js';

/**
 * Leases on the PostgreSQL index (migration 0002): a row per lease, taken by an upsert
 * whose update only applies when the row is expired or already the holder's. A table
 * rather than a session advisory lock: an advisory lock needs a client held out of the
 * bounded pool for the whole lease and is lost silently when that connection drops,
 * while a row with an expiry survives connection churn, and a crashed holder's lease
 * simply runs out.
 */
export function pgLeasePorts(pool: pg.Pool): Pick<MaintenanceIndex, 'tryLease' | 'releaseLease'> {
  return {
    tryLease: async (name, holder, ttlMs, now) => (await changes(pool, `INSERT INTO leases (name, holder, expires_at)
      VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
      WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= $4`, [name, holder, now + ttlMs, now])) === 1,
    releaseLease: async (name, holder) => {
      await changes(pool, 'DELETE FROM leases WHERE name = $1 AND holder = $2', [name, holder]);
    },
  };
}
