import { randomUUID } from 'node:crypto';
import { silentLogger, type Logger } from '../log/logger.js';
import type { MaintenanceIndex } from '../storage/ports.js';

/**
 * The index lease (ports.ts tryLease) every run that deletes cached or pushed content in
 * bulk holds while it runs: retention, prune (CLI and console) and gc, so that on replicas
 * sharing a PostgreSQL index no two of them ever run at once (issue 13). A SQLite index
 * grants it always: there the data-dir lock and one process decide.
 */
export const MAINTENANCE_LEASE = 'maintenance';

/** Long enough to survive a stalled event loop, short enough that a crashed holder blocks others only briefly. */
export const MAINTENANCE_LEASE_TTL_MS = 60_000;

/** Another replica (or command) holds the maintenance lease: the CLI exits 75, the console answers 409. */
export class MaintenanceBusyError extends Error {
  constructor(what: string) {
    super(`${what}: another replica is running maintenance (retention, prune or gc); try again when it is done`);
    this.name = 'MaintenanceBusyError';
  }
}

export interface LeaseOptions {
  /** This run's holder id (default: a fresh UUID; never a secret). */
  holder?: string;
  ttlMs?: number;
  /** The clock the lease's expiry is written with (epoch ms). */
  now?: () => number;
  log?: Logger;
}

/**
 * Runs `work` while holding the maintenance lease: taken first (MaintenanceBusyError when
 * another holder has it), renewed every ttl/3 so a long run keeps it, released at the end
 * whatever happens.
 */
export async function withMaintenanceLease<T>(index: MaintenanceIndex, what: string, work: () => Promise<T>, options: LeaseOptions = {}): Promise<T> {
  const holder = options.holder ?? randomUUID();
  const ttlMs = options.ttlMs ?? MAINTENANCE_LEASE_TTL_MS;
  const now = options.now ?? Date.now;
  if (!(await index.tryLease(MAINTENANCE_LEASE, holder, ttlMs, now()))) throw new MaintenanceBusyError(what);
  const renewal = keepLease(index, MAINTENANCE_LEASE, holder, ttlMs, now, options.log ?? silentLogger);
  try {
    return await work();
  } finally {
    renewal.stop();
    await index.releaseLease(MAINTENANCE_LEASE, holder).catch(() => {});
  }
}

/**
 * Renews the lease `name` of `holder` every ttl/3 until stop(): a run longer than the TTL
 * must not let another replica take it midway. A renewal refused (the lease was taken
 * after a stall longer than the TTL) or failed is logged; the run goes on, as what it
 * deletes is still judged row by row and pinned blobs are still skipped.
 */
export function keepLease(index: MaintenanceIndex, name: string, holder: string, ttlMs: number, now: () => number, log: Logger): { stop(): void } {
  const timer = setInterval(() => {
    index.tryLease(name, holder, ttlMs, now()).then(
      (ok) => { if (!ok) log.warn('lost the lease during a run: another replica took it', { lease: name }); },
      (err: unknown) => { log.warn('renewing the lease failed', { lease: name, error: err }); },
    );
  }, Math.max(1, Math.floor(ttlMs / 3)));
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
