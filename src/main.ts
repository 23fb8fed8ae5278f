#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { helpText, parseArgs, UsageError } from './cli/args.js';
import { healthcheck } from './cli/healthcheck.js';
import { runOffline } from './cli/offline-commands.js';
import { ConfigError, loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { createLogger } from './log/logger.js';
import { startServer } from './server.js';
import { DataDirLockedError } from './storage/data-lock.js';
import { MaintenanceBusyError } from './admin/maintenance-lease.js';
import { IndexTooNewError } from './storage/migrate.js';

/**
 * registry-mirror [serve|stats|migrate|gc|prune|evict|warm|backup|migrate-storage|healthcheck|help|--version] [--config FILE] [options] (cli/args.ts)
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
  // backup: a blob left out because its file was missing or damaged needs the operator.
  if (command.name === 'backup') {
    const r = result as { missing: number; corrupt: number };
    if (r.missing + r.corrupt > 0) process.exitCode = 1;
  }
  // migrate-storage: a blob not copied (corrupt or missing in the source) needs the operator.
  if (command.name === 'migrate-storage' && (result as { blobs: { failed: number } }).blobs.failed > 0) process.exitCode = 1;
  // gc --check: problems found (and not repaired) exit 1, as fsck does, so a cron job can alert.
  if (command.name === 'gc' && command.check && !(result as { clean: boolean }).clean) process.exitCode = 1;
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
  // 75 (EX_TEMPFAIL): another replica runs maintenance; a cron job tries again later.
  if (err instanceof MaintenanceBusyError) process.exit(75);
  process.exit(err instanceof ConfigError || err instanceof UsageError || err instanceof DataDirLockedError || err instanceof IndexTooNewError ? 2 : 1);
});
