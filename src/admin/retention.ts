import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { Core } from '../core.js';
import type { EventBus } from '../events/event-bus.js';
import type { Logger } from '../log/logger.js';
import type { AccessBatcher } from '../storage/access-batcher.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { OpenBlobs } from '../storage/open-blobs.js';
import type { MaintenanceIndex } from '../storage/ports.js';
import { openDeletePins, type DeletePins } from './delete-pins.js';
import { keepLease, MAINTENANCE_LEASE_TTL_MS, MaintenanceBusyError, withMaintenanceLease } from './maintenance-lease.js';
import type { Metrics } from './metrics.js';
import { prune, type PruneSummary } from './prune.js';

export interface RetentionDeps {
  config: Config['storage']['retention'];
  index: MaintenanceIndex;
  store: BlobStore;
  /** Flushed before each run, so least-recently-used is judged on the latest pulls. */
  access: AccessBatcher;
  openBlobs: OpenBlobs;
  metrics: Metrics;
  events: EventBus;
  log: Logger;
  now: () => number;
  /** Issue 13: the cluster's pins for one run (delete-pins.ts); undefined on a local index. */
  openPins?: () => Promise<DeletePins | undefined>;
  /** The maintenance lease's TTL (maintenance-lease.ts; tests shorten it). */
  maintenanceLeaseTtlMs?: number;
}

/** The lease (ports.ts tryLease) a retention run holds on the index. */
export const RETENTION_LEASE = 'retention';

export interface RetentionJob {
  /** Runs now (or joins the run in progress): one run at a time. Undefined when retention is off. */
  run(reason?: string): Promise<PruneSummary | undefined>;
  /** Stops the timer and the fill watch, and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Background retention (issue 11): every `intervalMs`, right after start, and when fills
 * have probably pushed the total past the high watermark, evicts mirrored blobs least
 * recently used first down to maxSize × lowWatermark (only once above maxSize ×
 * highWatermark), and every mirrored blob idle for maxAgeMs. The eviction itself is
 * prune(): pushed content and locally linked blobs are never candidates; blobs being sent
 * to a client (openBlobs) are skipped and counted. Only the server starts it: the
 * data-dir lock makes it the one process doing so on a local index; on a shared index
 * (issue 13) each run first takes the index's `retention` lease, kept from run to run
 * (TTL two intervals), and a replica that cannot take it skips the run.
 */
export function startRetention(deps: RetentionDeps): RetentionJob {
  const { config, log, metrics } = deps;
  const enabled = config.maxSize > 0 || config.maxAgeMs > 0;
  const high = config.maxSize * config.highWatermark;
  const low = config.maxSize * config.lowWatermark;
  let running: Promise<PruneSummary | undefined> | undefined;
  let stopped = false;
  /** Bytes the index held after the last run plus what fills added since: the cheap check. */
  let estimate = 0;
  /** This job's lease holder id: unique per process and start, never a secret. */
  const holder = randomUUID();
  // Renewed at every run of the holder; outlives one interval so the holder keeps it, and
  // runs out two intervals after a holder crashed so another replica takes over.
  const leaseTtlMs = 2 * config.intervalMs;

  const once = async (reason: string): Promise<PruneSummary | undefined> => {
    const started = deps.now();
    try {
      if (!(await deps.index.tryLease(RETENTION_LEASE, holder, leaseTtlMs, started))) {
        log.debug('retention run skipped: another replica holds the lease', { reason });
        return undefined;
      }
      // A run longer than the TTL keeps its lease (issue 13), and runs under the maintenance
      // lease too, so that no prune or gc of another replica runs at the same time.
      const renewal = keepLease(deps.index, RETENTION_LEASE, holder, leaseTtlMs, deps.now, log);
      try {
        return await withMaintenanceLease(deps.index, 'retention', () => evictRun(reason, started), {
          holder, now: deps.now, log, ttlMs: deps.maintenanceLeaseTtlMs ?? MAINTENANCE_LEASE_TTL_MS,
        });
      } finally {
        renewal.stop();
      }
    } catch (err) {
      if (err instanceof MaintenanceBusyError) {
        log.debug('retention run skipped: a prune or gc runs on another replica', { reason });
        return undefined;
      }
      metrics.retention.runs++;
      metrics.retention.lastRun = {
        at: new Date(started).toISOString(), reason, durationMs: deps.now() - started, evicted: 0, bytesFreed: 0,
        skippedInUse: 0, remainingBytes: estimate, error: (err as Error).message,
      };
      log.error('retention run failed', { reason, error: err });
      return undefined;
    }
  };

  const evictRun = async (reason: string, started: number): Promise<PruneSummary | undefined> => {
    const pins = await deps.openPins?.();
    try {
      await deps.access.flush();
      const total = (await deps.index.stats()).blobBytes;
      const bySize = config.maxSize > 0 && total > high;
      if (!bySize && config.maxAgeMs === 0) {
        estimate = total;
        return undefined;
      }
      const summary = await prune(deps.index, deps.store, {
        ...(bySize ? { maxSize: low } : {}),
        ...(config.maxAgeMs > 0 ? { olderThanMs: config.maxAgeMs } : {}),
        now: started, log, events: deps.events, inUse: (d) => deps.openBlobs.has(d), ...(pins ? { pins } : {}),
      });
      estimate = summary.remainingBytes;
      const r = metrics.retention;
      r.runs++;
      r.blobsEvicted += summary.evicted;
      r.bytesEvicted += summary.bytesFreed;
      r.skippedInUse += summary.skippedInUse ?? 0;
      r.lastRun = {
        at: new Date(started).toISOString(), reason, durationMs: deps.now() - started, evicted: summary.evicted,
        bytesFreed: summary.bytesFreed, skippedInUse: summary.skippedInUse ?? 0, remainingBytes: summary.remainingBytes,
      };
      if (summary.evicted > 0 || (summary.skippedInUse ?? 0) > 0) log.info('retention evicted blobs', { reason, ...summary });
      return summary;
    } finally {
      await pins?.close();
    }
  };

  const run = (reason = 'manual'): Promise<PruneSummary | undefined> => {
    if (!enabled || stopped) return Promise.resolve(undefined);
    running ??= once(reason).finally(() => { running = undefined; });
    return running;
  };

  if (!enabled) return { run, stop: async () => {} };

  // A fill adds its size to the estimate; past the high watermark, a run starts now
  // rather than at the next tick (the run recomputes the real total from the index).
  const offFilled = config.maxSize > 0
    ? deps.events.on('blob.filled', (e) => {
      estimate += e.size ?? 0;
      if (estimate > high && !running) void run('high watermark');
    })
    : () => {};
  const timer = setInterval(() => void run('interval'), config.intervalMs);
  timer.unref();
  void run('start');

  return {
    run,
    async stop() {
      stopped = true;
      clearInterval(timer);
      offFilled();
      await running;
      // A stopped holder hands over at once rather than after the TTL.
      await deps.index.releaseLease(RETENTION_LEASE, holder).catch(() => {});
    },
  };
}

/** Retention over a core's parts (what `serve` starts; tests start it on their own core). */
export function startCoreRetention(core: Core): RetentionJob {
  return startRetention({
    config: core.config.storage.retention, index: core.ports.maintenance, store: core.store, access: core.access,
    openBlobs: core.openBlobs, metrics: core.metrics, events: core.events, log: core.log, now: core.now,
    openPins: () => openDeletePins(core.config, core.log),
  });
}
