import { existsSync } from 'node:fs';
import { parseDuration, parseSize } from '../config/parse.js';

/**
 * Command-line arguments: `registry-mirror [command] [--config FILE] [options]`.
 * Options are checked against the command that takes them; values (sizes, durations) are
 * parsed here, once, so that a typo is one line on stderr and exit code 2.
 */
export const USAGE = `usage: registry-mirror [serve|stats|migrate] [--config FILE]
       registry-mirror gc [--grace 1h] [--dry-run] [--config FILE]
       registry-mirror prune [--max-size SIZE] [--older-than DURATION] [--dry-run [--json]] [--config FILE]
       registry-mirror evict NAME:TAG|NAME@DIGEST [--config FILE]   (e.g. docker.io/library/alpine:3.20)`;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type Command =
  | { name: 'serve' | 'stats' | 'migrate' }
  | { name: 'gc'; graceMs: number; dryRun: boolean }
  | { name: 'prune'; maxSize?: number; olderThanMs?: number; dryRun: boolean; json: boolean }
  | { name: 'evict'; image: string };

export interface Args {
  command: Command;
  configFile?: string;
}

/** Options each command accepts: true when it takes a value. */
const OPTIONS: Record<Command['name'], Record<string, boolean>> = {
  serve: {},
  stats: {},
  migrate: {},
  gc: { '--grace': true, '--dry-run': false },
  prune: { '--max-size': true, '--older-than': true, '--dry-run': false, '--json': false },
  evict: {},
};
const TAKES_VALUE = new Set(Object.values(OPTIONS).flatMap((o) => Object.keys(o).filter((k) => o[k])));

const isCommand = (name: string): name is Command['name'] => Object.hasOwn(OPTIONS, name);

/**
 * Parses argv (without node and the script). --help prints USAGE and exits; anything
 * else that is wrong throws UsageError. Without --config, ./mirror.config.yaml is used
 * when present.
 */
export function parseArgs(argv: readonly string[], defaultConfig = 'mirror.config.yaml'): Args {
  let name: string | undefined;
  let configFile: string | undefined;
  const options = new Map<string, string | true>();
  /** Arguments after a command that takes them (evict's image). */
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    }
    if (!arg.startsWith('-') && name === 'evict') {
      operands.push(arg);
      continue;
    }
    if (!arg.startsWith('-')) {
      // `npm start -- stats` runs `main.js serve stats`: a command after serve replaces it.
      if (name !== undefined && name !== 'serve') throw new UsageError(`unexpected argument "${arg}"\n${USAGE}`);
      name = arg;
      continue;
    }
    const eq = arg.indexOf('=');
    const key = eq > 0 ? arg.slice(0, eq) : arg;
    const takesValue = key === '--config' || key === '-c' || TAKES_VALUE.has(key);
    let value: string | true = true;
    if (eq > 0) {
      if (!takesValue) throw new UsageError(`${key}: takes no value`);
      value = arg.slice(eq + 1);
    } else if (takesValue) {
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${key}: needs a value`);
      value = next;
    }
    if (key === '--config' || key === '-c') configFile = value as string;
    else options.set(key, value);
  }

  name ??= 'serve';
  if (!isCommand(name)) throw new UsageError(`unknown command "${name}"\n${USAGE}`);
  for (const key of options.keys()) {
    if (!Object.hasOwn(OPTIONS[name], key)) throw new UsageError(`${key}: not an option of "${name}"\n${USAGE}`);
  }
  if (!configFile && existsSync(defaultConfig)) configFile = defaultConfig;
  if (name === 'evict') {
    if (operands.length !== 1) throw new UsageError(`evict: needs one image, e.g. docker.io/library/alpine:3.20\n${USAGE}`);
    return { command: { name, image: operands[0]! }, ...(configFile ? { configFile } : {}) };
  }
  return { command: buildCommand(name, options), ...(configFile ? { configFile } : {}) };
}

/** A duration as config writes it ("30s", "1h", "30d"); a bare 0 needs no unit. */
const parseCliDuration = (v: unknown): number => (typeof v === 'string' && /^\s*0+\s*$/.test(v) ? 0 : parseDuration(v));

function buildCommand(name: Exclude<Command['name'], 'evict'>, options: Map<string, string | true>): Command {
  const value = <T>(key: string, parse: (v: unknown) => T): T | undefined => {
    const raw = options.get(key);
    if (raw === undefined) return undefined;
    try {
      return parse(raw);
    } catch (err) {
      throw new UsageError(`${key}: ${(err as Error).message}`);
    }
  };
  const dryRun = options.has('--dry-run');
  switch (name) {
    case 'gc':
      return { name, graceMs: value('--grace', parseCliDuration) ?? 3_600_000, dryRun };
    case 'prune': {
      const maxSize = value('--max-size', parseSize);
      const olderThanMs = value('--older-than', parseCliDuration);
      if (maxSize === undefined && olderThanMs === undefined) {
        throw new UsageError(`prune: needs --max-size SIZE and/or --older-than DURATION\n${USAGE}`);
      }
      return {
        name, dryRun, json: options.has('--json'),
        ...(maxSize !== undefined ? { maxSize } : {}),
        ...(olderThanMs !== undefined ? { olderThanMs } : {}),
      };
    }
    default:
      return { name };
  }
}
