#!/usr/bin/env node
import { collectGarbage } from './admin/gc.js';
import { checkStorage } from './admin/gc-check.js';
import { gcCheckReporter } from './admin/gc-check-report.js';
import { evictImage, parseImageRef, type EvictSummary } from './admin/evict.js';
import { prune } from './admin/prune.js';
import { unresolvableImages, warmImages } from './admin/warm.js';
import { ImageListError, readImageList, warmReporter } from './admin/warm-cli.js';
import { cacheReport } from './admin/stats.js';
import { cliStatsJson, formatStatsTable } from './admin/stats-table.js';
import { readFileSync } from 'node:fs';
import { helpText, parseArgs, UsageError, type Command } from './cli/args.js';
import { healthcheck } from './cli/healthcheck.js';
import { ConfigError, loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { createCore, type Core } from './core.js';
import { createLogger, type Logger } from './log/logger.js';
import { isOciError } from './oci/errors.js';
import { startServer } from './server.js';
import { DataDirLockedError } from './storage/data-lock.js';
import type { EvictableBlob } from './storage/index-rows.js';

/**
 * registry-mirror [serve|stats|migrate|gc|prune|evict|warm|healthcheck|help|--version] [--config FILE] [options] (cli/args.ts)
 * Without --config, ./mirror.config.yaml is used when present, else the built-in defaults.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage, or the data dir is in use
 * by another server.
 */
async function main(): Promise<void> {
  const args = orExit2(() => parseArgs(process.argv.slice(2)));
  const { command } = args;
  // Help and the version need no config: a broken one must not hide them.
  if (command.name === 'help') return void process.stdout.write(helpText(command.topic) + '\n');
  if (command.name === 'version') return void process.stdout.write(version() + '\n');
  const config: Config = orExit2(() => loadConfig({ file: args.configFile }));

  // Whatever the mirror creates (blobs, index.db and its -wal/-shm, token-secret) is its
  // user's alone: blobs may be private images. Explicit modes cover most; this the rest.
  process.umask(0o077);

  if (command.name === 'healthcheck') {
    const { code, message } = await healthcheck(config);
    (code === 0 ? process.stdout : process.stderr).write(message + '\n');
    process.exit(code);
  }

  if (command.name === 'serve') {
    const log = createLogger(config.log.level);
    // Handlers first: without one, a SIGTERM that arrives right after the "serving" line
    // (a supervisor or test reacting to it) would kill the process before the index closes.
    const starting = startServer(config, log);
    const stop = (signal: string) => {
      log.info('shutting down', { signal });
      const force = setTimeout(() => process.exit(1), 10_000);
      force.unref();
      starting.then((running) => running.close()).then(() => process.exit(0), () => process.exit(1));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    await starting;
    return;
  }
  const result = await runOffline(command, config);
  if (typeof result === 'string') process.stdout.write(result);
  else if (result !== undefined) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  // warm: an image that could not be warmed is a failure of the run (the summary says which).
  if (command.name === 'warm' && (result as { failed: number }).failed > 0) process.exitCode = 1;
  // gc --check: problems found (and not repaired) exit 1, as fsck does, so a cron job can alert.
  if (command.name === 'gc' && command.check && !(result as { clean: boolean }).clean) process.exitCode = 1;
}

/**
 * Commands that work on the storage directly, through the same core as `serve` (without
 * its data-dir claim): safe while a server runs on the same data (SQLite WAL, busy
 * timeout). stdout carries only the JSON result; logs go to stderr.
 */
async function runOffline(command: Exclude<Command, { name: 'serve' | 'help' | 'version' | 'healthcheck' }>, config: Config): Promise<unknown> {
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
        return await runPrune(command, core, log);
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
async function runPrune(command: Extract<Command, { name: 'prune' }>, core: Core, log: Logger): Promise<unknown> {
  const { json, ...options } = command;
  const listing = options.dryRun && !json;
  const chosen: EvictableBlob[] = [];
  const progress = listing && process.stderr.isTTY;
  let bytes = 0;
  const summary = await prune(core.ports.maintenance, core.store, {
    ...options, log, events: core.events,
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
    return await evictImage({ index: core.ports.maintenance, tags: core.ports.tags, store: core.store, log, events: core.events }, parsed.repo, parsed.ref);
  } catch (err) {
    if (isOciError(err) && err.code === 'MANIFEST_UNKNOWN') throw new Error(`evict: ${image} is not in the cache`);
    throw err;
  }
}

/** A usage or config error is one line on stderr and exit code 2. */
function orExit2<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) {
      process.stderr.write(`registry-mirror: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** package.json's version: dist/main.js and the image's /app/dist/main.js both sit one folder below it. */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

main().catch((err: Error) => {
  process.stderr.write(`registry-mirror: ${err.message}\n`);
  process.exit(err instanceof ConfigError || err instanceof UsageError || err instanceof DataDirLockedError ? 2 : 1);
});
