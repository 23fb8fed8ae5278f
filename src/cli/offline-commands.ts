import { join, relative, resolve } from 'node:path';
import { backupDataDir } from '../admin/backup.js';
import { MigrateUsageError, migrateStorage } from '../admin/migrate-storage.js';
import { SourceIndexError } from '../storage/sqlite-export.js';
import { checkStorage } from '../admin/gc-check.js';
import { gcCheckReporter } from '../admin/gc-check-report.js';
import { collectGarbage } from '../admin/gc.js';
import { evictImage, parseImageRef, type EvictSummary } from '../admin/evict.js';
import { prune } from '../admin/prune.js';
import { openDeletePins, type DeletePins } from '../admin/delete-pins.js';
import { withMaintenanceLease } from '../admin/maintenance-lease.js';
import { cacheReport } from '../admin/stats.js';
import { cliStatsJson, formatStatsTable } from '../admin/stats-table.js';
import { unresolvableImages, warmImages } from '../admin/warm.js';
import { ImageListError, readImageList, warmReporter } from '../admin/warm-cli.js';
import type { Config } from '../config/schema.js';
import { createCore, type Core } from '../core.js';
import { createLogger, type Logger } from '../log/logger.js';
import { isOciError } from '../oci/errors.js';
import type { EvictableBlob } from '../storage/index-rows.js';
import { UsageError, type Command } from './args.js';

/** The commands runOffline takes: all but the server, help, the version and the healthcheck. */
export type OfflineCommand = Exclude<Command, { name: 'serve' | 'help' | 'version' | 'healthcheck' }>;

/**
 * Commands that work on the storage directly, through the same core as `serve` (without
 * its data-dir claim): safe while a server runs on the same data (SQLite WAL, busy
 * timeout). stdout carries only the JSON result; logs go to stderr.
 */
export async function runOffline(command: OfflineCommand, config: Config): Promise<unknown> {
  const log = createLogger(config.log.level, (line) => process.stderr.write(line));
  let images: ReturnType<typeof readImageList> = [];
  if (command.name === 'warm') {
    try {
      images = readImageList(command.sources);
    } catch (err) {
      if (err instanceof ImageListError) throw new UsageError(`warm: ${err.message}`);
      throw err;
    }
  }
  if (command.name === 'migrate-storage') {
    // Issue 13: not through createCore: the source is opened read-only, the target write-only.
    try {
      return await migrateStorage({
        config, dryRun: command.dryRun, log, onProgress: (line) => process.stderr.write(line + '\n'),
        ...(command.from !== undefined ? { from: command.from } : {}),
      });
    } catch (err) {
      if (err instanceof MigrateUsageError || err instanceof SourceIndexError) throw new UsageError(err.message);
      throw err;
    }
  }
  if (command.name === 'backup' && config.index.driver === 'postgres') {
    // Issue 13: backup snapshots the SQLite file; a PostgreSQL index has its own tools.
    throw new UsageError('backup: index.driver is postgres: back up the index with pg_dump (or the service\'s snapshots) and the blob store with its own tools');
  }
  if (command.name === 'gc' && command.check === 'repair' && config.index.driver === 'postgres' && config.storage.driver === 'fs') {
    // Issue 13: a shared index with one replica's local files: blobs held by other replicas
    // are missing here, and a repair would drop their rows for the whole cluster.
    throw new UsageError('gc --repair: index.driver is postgres but storage.driver is fs: this replica\'s local files cannot judge the blobs other replicas hold (use a shared blob store, storage.driver s3, or gc --check)');
  }
  if (command.name === 'backup') {
    // Not into the live data dir (nor the data dir into the backup): gc and retention would see the other's files.
    const rel = relative(resolve(config.storage.path), resolve(command.dest));
    const back = relative(resolve(command.dest), resolve(config.storage.path));
    if (rel === '' || !rel.startsWith('..') || !back.startsWith('..')) {
      throw new UsageError(`backup: ${command.dest} must be outside storage.path (${config.storage.path}), and not contain it`);
    }
  }
  const core = await createCore(config, { log });
  try {
    switch (command.name) {
      case 'migrate':
        return undefined;
      case 'stats': {
        // Issue 11: the persisted figures /admin/stats shows under `cache`; a table on a terminal.
        const report = await cacheReport(core.ports.maintenance, core.now());
        const table = command.format === 'table' || (command.format === undefined && process.stdout.isTTY);
        return table ? formatStatsTable(report) : cliStatsJson(report);
      }
      case 'gc':
        if (command.check) {
          const report = gcCheckReporter((text) => process.stderr.write(text), process.stderr.isTTY === true);
          const check = () => checkStorage(core.ports, core.store, {
            repair: command.check === 'repair', graceMs: command.graceMs, log, events: core.events,
            onFinding: (f) => report.finding(f), onProgress: (p) => report.progress(p),
          });
          // A repair deletes rows and objects: under the maintenance lease as gc is.
          const summary = command.check === 'repair' ? await withMaintenanceLease(core.ports.maintenance, 'gc --repair', check, { log }) : await check();
          report.summary(summary);
          return summary;
        }
        // Issue 13: under the maintenance lease (one of retention, prune, gc across replicas
        // at a time; MaintenanceBusyError: exit 75), skipping blobs a replica is sending.
        if (command.dryRun) return await collectGarbage(core.ports.maintenance, core.store, { ...command, log, events: core.events });
        return await withMaintenanceLease(core.ports.maintenance, 'gc', () => withPins(core, log, (pins) =>
          collectGarbage(core.ports.maintenance, core.store, { ...command, log, events: core.events, ...(pins ? { pins } : {}) })), { log });
      case 'prune':
        if (command.dryRun) return await runPrune(command, core, log);
        return await withMaintenanceLease(core.ports.maintenance, 'prune', () => withPins(core, log, (pins) => runPrune(command, core, log, pins)), { log });
      case 'backup': {
        const progress = process.stderr.isTTY === true;
        const summary = await backupDataDir({
          indexPath: join(config.storage.path, 'index.db'), store: core.store, dest: command.dest, pushedOnly: command.pushedOnly, log,
          ...(progress ? { onProgress: (p: { blobs: number; bytes: number }) => { if (p.blobs % 100 === 0) process.stderr.write(`\rbackup: ${p.blobs} blobs, ${p.bytes} bytes copied`); } } : {}),
        });
        if (progress) process.stderr.write('\r\x1b[K');
        return summary;
      }
      case 'evict':
        return await runEvict(command.image, core, log);
      case 'warm': {
        const bad = unresolvableImages(core.namespace.resolver, images);
        if (bad.length > 0) throw new UsageError(`warm: ${bad.join('\n')}`);
        const report = warmReporter(images.length, (line) => process.stderr.write(line), process.stderr.isTTY === true);
        const summary = await warmImages(core.namespace.resolver, images, {
          platforms: command.platforms, concurrency: command.concurrency, onImage: (r) => report.image(r),
        });
        report.summary(summary);
        return summary;
      }
    }
  } finally {
    await core.close();
  }
}

/**
 * `prune`: the JSON summary. A dry run without --json first lists what would go, one line
 * per blob (repositories, digest, size in bytes, last pull; tab-separated, for a pipe), then
 * the summary as one JSON line, last; on a terminal, a progress line on stderr meanwhile.
 */
async function runPrune(command: Extract<Command, { name: 'prune' }>, core: Core, log: Logger, pins?: DeletePins): Promise<unknown> {
  const { json, ...options } = command;
  const listing = options.dryRun && !json;
  const chosen: EvictableBlob[] = [];
  const progress = listing && process.stderr.isTTY;
  let bytes = 0;
  const summary = await prune(core.ports.maintenance, core.store, {
    ...options, log, events: core.events, ...(pins ? { pins } : {}),
    ...(listing ? {
      onEvict: (b: EvictableBlob) => {
        chosen.push(b);
        bytes += b.size;
        if (progress && chosen.length % 1000 === 0) process.stderr.write(`\rprune: ${chosen.length} blobs, ${bytes} bytes so far`);
      },
    } : {}),
  });
  if (!listing) return summary;
  if (progress) process.stderr.write('\r\x1b[K');
  for (const b of chosen) {
    const repos = await core.ports.maintenance.blobRepositories(b.digest);
    process.stdout.write(`${repos.join(',') || '-'}\t${b.digest}\t${b.size}\t${new Date(b.lastAccess).toISOString()}\n`);
  }
  process.stdout.write(JSON.stringify(summary) + '\n');
  return undefined;
}

/** `evict NAME:TAG|NAME@DIGEST`: a bad reference is a usage error (exit 2), an image not cached exit 1. */
async function runEvict(image: string, core: Core, log: Logger): Promise<EvictSummary> {
  let parsed: ReturnType<typeof parseImageRef>;
  try {
    parsed = parseImageRef(image);
  } catch (err) {
    throw new UsageError(`evict: ${(err as Error).message}`);
  }
  try {
    return await evictImage({
      index: core.ports.maintenance, tags: core.ports.tags, store: core.store, log, events: core.events,
      openPins: () => openDeletePins(core.config, log), blobs: core.ports.blobs,
    }, parsed.repo, parsed.ref);
  } catch (err) {
    if (isOciError(err) && err.code === 'MANIFEST_UNKNOWN') throw new Error(`evict: ${image} is not in the cache`);
    throw err;
  }
}

/** Runs `work` with the cluster's pins for one run (none on a local index), closed after. */
async function withPins<T>(core: Core, log: Logger, work: (pins: DeletePins | undefined) => Promise<T>): Promise<T> {
  const pins = await openDeletePins(core.config, log);
  try {
    return await work(pins);
  } finally {
    await pins?.close();
  }
}
