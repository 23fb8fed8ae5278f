#!/usr/bin/env node
import { collectGarbage } from './admin/gc.js';
import { evictImage, parseImageRef, type EvictSummary } from './admin/evict.js';
import { prune } from './admin/prune.js';
import { parseArgs, UsageError, type Args, type Command } from './cli/args.js';
import { ConfigError, loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { createCore, type Core } from './core.js';
import { createLogger, type Logger } from './log/logger.js';
import { isOciError } from './oci/errors.js';
import { startServer } from './server.js';
import { DataDirLockedError } from './storage/data-lock.js';
import type { EvictableBlob } from './storage/index-rows.js';

/**
 * registry-mirror [serve|stats|migrate|gc|prune|evict] [--config FILE] [options] (cli/args.ts)
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
  if (result !== undefined) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

/**
 * Commands that work on the storage directly, through the same core as `serve` (without
 * its data-dir claim): safe while a server runs on the same data (SQLite WAL, busy
 * timeout). stdout carries only the JSON result; logs go to stderr.
 */
async function runOffline(command: Exclude<Command, { name: 'serve' }>, config: Config): Promise<unknown> {
  const log = createLogger(config.log.level, (line) => process.stderr.write(line));
  const core = await createCore(config, { log });
  try {
    switch (command.name) {
      case 'migrate':
        return undefined;
      case 'stats':
        return await core.ports.maintenance.stats();
      case 'gc':
        return await collectGarbage(core.ports.maintenance, core.store, { ...command, log, events: core.events });
      case 'prune':
        return await runPrune(command, core, log);
      case 'evict':
        return await runEvict(command.image, core, log);
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

main().catch((err: Error) => {
  process.stderr.write(`registry-mirror: ${err.message}\n`);
  process.exit(err instanceof ConfigError || err instanceof UsageError || err instanceof DataDirLockedError ? 2 : 1);
});
