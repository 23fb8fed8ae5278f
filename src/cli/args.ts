import { existsSync } from 'node:fs';
import { parseDuration, parseSize } from '../config/parse.js';

/**
 * Command-line arguments: `registry-mirror [command] [--config FILE] [options]`.
 * Options are checked against the command that takes them; values (sizes, durations) are
 * parsed here, once, so that a typo is one line on stderr and exit code 2.
 */
export const USAGE = `usage: registry-mirror [serve|stats|migrate] [--config FILE]
       registry-mirror stats [--json|--table] [--config FILE]
       registry-mirror gc [--grace 1h] [--dry-run] [--check|--repair] [--config FILE]
       registry-mirror prune [--max-size SIZE] [--older-than DURATION] [--dry-run] [--config FILE]
       registry-mirror warm FILE|IMAGE... [--platform linux/amd64,...] [--concurrency 4] [--config FILE]`;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type Command =
  | { name: 'serve' | 'migrate' }
  /** Issue 11: `format` forced by --json / --table; without either, a table on a terminal and JSON in a pipe. */
  | { name: 'stats'; format?: 'json' | 'table' }
  | { name: 'gc'; graceMs: number; dryRun: boolean; check?: 'check' | 'repair' }
  | { name: 'prune'; maxSize?: number; olderThanMs?: number; dryRun: boolean }
  | { name: 'warm'; sources: string[]; platforms: string[]; concurrency: number };

export interface Args {
  command: Command;
  configFile?: string;
}

/** Options each command accepts: true when it takes a value. */
const OPTIONS: Record<Command['name'], Record<string, boolean>> = {
  serve: {},
  stats: { '--json': false, '--table': false },
  migrate: {},
  gc: { '--grace': true, '--dry-run': false, '--check': false, '--repair': false },
  prune: { '--max-size': true, '--older-than': true, '--dry-run': false },
  warm: { '--platform': true, '--concurrency': true },
};
/** Commands that take arguments after their name (images, files). */
const TAKES_ARGUMENTS = new Set<string>(['warm']);
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
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    }
    if (!arg.startsWith('-')) {
      // `npm start -- stats` runs `main.js serve stats`: a command after serve replaces it.
      if (name !== undefined && TAKES_ARGUMENTS.has(name)) {
        positionals.push(arg);
        continue;
      }
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
  return { command: buildCommand(name, options, positionals), ...(configFile ? { configFile } : {}) };
}

/** A duration as config writes it ("30s", "1h", "30d"); a bare 0 needs no unit. */
const parseCliDuration = (v: unknown): number => (typeof v === 'string' && /^\s*0+\s*$/.test(v) ? 0 : parseDuration(v));

function buildCommand(name: Command['name'], options: Map<string, string | true>, positionals: string[] = []): Command {
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
    case 'gc': {
      const graceMs = value('--grace', parseCliDuration) ?? 3_600_000;
      // --check compares the index with the files; --repair fixes what it finds (with --dry-run: checks only).
      const check = options.has('--repair') && !dryRun ? 'repair' : options.has('--check') || options.has('--repair') ? 'check' : undefined;
      return { name, graceMs, dryRun, ...(check ? { check } : {}) };
    }
    case 'prune': {
      const maxSize = value('--max-size', parseSize);
      const olderThanMs = value('--older-than', parseCliDuration);
      if (maxSize === undefined && olderThanMs === undefined) {
        throw new UsageError(`prune: needs --max-size SIZE and/or --older-than DURATION\n${USAGE}`);
      }
      return {
        name, dryRun,
        ...(maxSize !== undefined ? { maxSize } : {}),
        ...(olderThanMs !== undefined ? { olderThanMs } : {}),
      };
    }
    case 'warm': {
      if (positionals.length === 0) throw new UsageError(`warm: needs a FILE or an IMAGE\n${USAGE}`);
      const platforms = value('--platform', parsePlatforms) ?? [];
      const concurrency = value('--concurrency', parseConcurrency) ?? 4;
      return { name, sources: positionals, platforms, concurrency };
    }
    case 'stats': {
      if (options.has('--json') && options.has('--table')) throw new UsageError(`stats: --json or --table, not both\n${USAGE}`);
      const format = options.has('--json') ? 'json' : options.has('--table') ? 'table' : undefined;
      return format ? { name, format } : { name };
    }
    default:
      return { name };
  }
}

/** `--platform linux/amd64,linux/arm64/v8`: os/arch[/variant], lower-cased. */
function parsePlatforms(v: unknown): string[] {
  const list = String(v).split(',').map((p) => p.trim().toLowerCase()).filter(Boolean);
  const bad = list.find((p) => !/^[a-z0-9._-]+\/[a-z0-9._-]+(\/[a-z0-9._-]+)?$/.test(p));
  if (list.length === 0 || bad !== undefined) throw new Error(`"${bad ?? v}" is not a platform (os/arch or os/arch/variant)`);
  return list;
}

/** A whole number from 1 to 64. */
function parseConcurrency(v: unknown): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`"${v}" is not a whole number from 1 to 64`);
  return n;
}
