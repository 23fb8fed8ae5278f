#!/usr/bin/env node
import { collectGarbage } from './admin/gc.js';
import { checkStorage } from './admin/gc-check.js';
import { gcCheckReporter } from './admin/gc-check-report.js';
import { prune } from './admin/prune.js';
import { unresolvableImages, warmImages } from './admin/warm.js';
import { ImageListError, readImageList, warmReporter } from './admin/warm-cli.js';
import { cacheReport } from './admin/stats.js';
import { cliStatsJson, formatStatsTable } from './admin/stats-table.js';
import { parseArgs, UsageError, type Args, type Command } from './cli/args.js';
import { ConfigError, loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { createCore } from './core.js';
import { createLogger } from './log/logger.js';
import { startServer } from './server.js';
import { DataDirLockedError } from './storage/data-lock.js';

/**
 * registry-mirror [serve|stats|migrate|gc|prune|warm] [--config FILE] [options] (cli/args.ts)
 * Without --config, ./mirror.config.yaml is used when present, else the built-in defaults.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage, or the data dir is in use
 * by another server.
 */
async function main(): Promise<void> {
  let args: Args;
  let config: Config;
  try {
    args = parseArgs(process.argv.slice(2));
    config = loadConfig({ file: args.configFile });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) {
      process.stderr.write(`registry-mirror: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  // Whatever the mirror creates (blobs, index.db and its -wal/-shm, token-secret) is its
  // user's alone: blobs may be private images. Explicit modes cover most; this the rest.
  process.umask(0o077);

  if (args.command.name === 'serve') {
    const log = createLogger(config.log.level);
    const running = await startServer(config, log);
    const stop = (signal: string) => {
      log.info('shutting down', { signal });
      const force = setTimeout(() => process.exit(1), 10_000);
      force.unref();
      running.close().then(() => process.exit(0), () => process.exit(1));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    return;
  }
  const result = await runOffline(args.command, config);
  if (typeof result === 'string') process.stdout.write(result);
  else if (result !== undefined) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  // warm: an image that could not be warmed is a failure of the run (the summary says which).
  if (args.command.name === 'warm' && (result as { failed: number }).failed > 0) process.exitCode = 1;
  // gc --check: problems found (and not repaired) exit 1, as fsck does, so a cron job can alert.
  if (args.command.name === 'gc' && args.command.check && !(result as { clean: boolean }).clean) process.exitCode = 1;
}

/**
 * Commands that work on the storage directly, through the same core as `serve` (without
 * its data-dir claim): safe while a server runs on the same data (SQLite WAL, busy
 * timeout). stdout carries only the JSON result; logs go to stderr.
 */
async function runOffline(command: Exclude<Command, { name: 'serve' }>, config: Config): Promise<unknown> {
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
          const summary = await checkStorage(core.ports, core.store, {
            repair: command.check === 'repair', graceMs: command.graceMs, log, events: core.events,
            onFinding: (f) => report.finding(f), onProgress: (p) => report.progress(p),
          });
          report.summary(summary);
          return summary;
        }
        return await collectGarbage(core.ports.maintenance, core.store, { ...command, log, events: core.events });
      case 'prune':
        return await prune(core.ports.maintenance, core.store, { ...command, log, events: core.events });
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

main().catch((err: Error) => {
  process.stderr.write(`registry-mirror: ${err.message}\n`);
  process.exit(err instanceof ConfigError || err instanceof UsageError || err instanceof DataDirLockedError ? 2 : 1);
});
