#!/usr/bin/env node
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './config/load.js';
import { createLogger } from './log/logger.js';
import { startServer } from './server.js';
import { openSqliteIndex } from './storage/sqlite-index.js';

/**
 * registry-mirror [serve|stats|migrate] [--config FILE]
 * Without --config, ./mirror.config.yaml is used when present, else the built-in defaults.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage.
 */
const USAGE = 'usage: registry-mirror [serve|stats|migrate] [--config FILE]';

function parseArgs(argv: string[]): { command: string; configFile?: string } {
  let command = 'serve';
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--config' || arg === '-c') {
      configFile = argv[++i];
      if (!configFile) throw new ConfigError('--config', 'needs a file name');
    } else if (arg.startsWith('--config=')) {
      configFile = arg.slice('--config='.length);
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    } else if (!arg.startsWith('-')) {
      command = arg;
    } else {
      throw new ConfigError(arg, `unknown option (${USAGE})`);
    }
  }
  if (!configFile && existsSync('mirror.config.yaml')) configFile = 'mirror.config.yaml';
  return { command, configFile };
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parseArgs>;
  let config: ReturnType<typeof loadConfig>;
  try {
    args = parseArgs(process.argv.slice(2));
    config = loadConfig({ file: args.configFile });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`registry-mirror: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.log.level);

  switch (args.command) {
    case 'serve': {
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
    case 'stats':
    case 'migrate': {
      mkdirSync(config.storage.path, { recursive: true });
      const index = openSqliteIndex(join(config.storage.path, 'index.db'));
      if (args.command === 'stats') process.stdout.write(JSON.stringify(index.stats(), null, 2) + '\n');
      index.close();
      return;
    }
    default:
      process.stderr.write(`registry-mirror: unknown command "${args.command}"\n${USAGE}\n`);
      process.exit(2);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`registry-mirror: ${err.message}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
