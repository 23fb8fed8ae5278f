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
       registry-mirror prune [--max-size SIZE] [--older-than DURATION] [--dry-run [--json]] [--config FILE]
       registry-mirror evict NAME:TAG|NAME@DIGEST [--config FILE]   (e.g. docker.io/library/alpine:3.20)
       registry-mirror warm FILE|IMAGE... [--platform linux/amd64,...] [--concurrency 4] [--config FILE]
       registry-mirror backup DIR [--pushed-only] [--config FILE]
       registry-mirror migrate-storage [--from DATA_DIR] [--dry-run] --config TARGET.yaml
       registry-mirror healthcheck [--config FILE]
       registry-mirror help [COMMAND] | --version`;

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
  | { name: 'prune'; maxSize?: number; olderThanMs?: number; dryRun: boolean; json: boolean }
  | { name: 'evict'; image: string }
  | { name: 'warm'; sources: string[]; platforms: string[]; concurrency: number }
  | { name: 'healthcheck' }
  | { name: 'backup'; dest: string; pushedOnly: boolean }
  /** Issue 13: a data dir (file store + SQLite) into the config's S3 store and/or PostgreSQL index. */
  | { name: 'migrate-storage'; from?: string; dryRun: boolean }
  | { name: 'version' }
  | { name: 'help'; topic?: Command['name'] };

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
  prune: { '--max-size': true, '--older-than': true, '--dry-run': false, '--json': false },
  evict: {},
  warm: { '--platform': true, '--concurrency': true },
  healthcheck: {},
  backup: { '--pushed-only': false },
  'migrate-storage': { '--from': true, '--dry-run': false },
  version: {},
  help: {},
};
/** Commands that take arguments after their name (images, files). */
const TAKES_ARGUMENTS = new Set<string>(['warm', 'evict', 'backup']);
/**
 * `help COMMAND`: what each command does, its options (every OPTIONS key, a test checks) and
 * one example that works exactly as written in a clone after `npm install`. A new command
 * adds one entry here beside its OPTIONS entry.
 */
export const HELP: Record<Command['name'], { summary: string; options: Array<[string, string]>; example: string }> = {
  serve: {
    summary: 'Run the mirror (the default command): listen on http.addr, cache in storage.path.',
    options: [],
    example: 'npx registry-mirror serve --config mirror.config.yaml',
  },
  stats: {
    summary: 'Print what the cache holds and how it performs, read from the index (the server need not run).',
    options: [
      ['--json', 'JSON (the default in a pipe)'],
      ['--table', 'a readable table (the default on a terminal)'],
    ],
    example: 'npx registry-mirror stats --json',
  },
  migrate: {
    summary: 'Create or upgrade the index schema, then exit.',
    options: [],
    example: 'npx registry-mirror migrate',
  },
  gc: {
    summary: 'Remove manifests no repository links and pushed blobs nothing references.',
    options: [
      ['--grace DURATION', 'leave blobs uploaded or pulled within this long (default 1h)'],
      ['--dry-run', 'only report what would be removed'],
      ['--check', 'find index rows whose file is missing and files no row names; exit 1 if any'],
      ['--repair', 'drop the rows of missing files and remove stray files older than --grace'],
    ],
    example: 'npx registry-mirror gc --grace 1h --dry-run',
  },
  prune: {
    summary: 'Evict cached (mirrored) blobs, least recently used first; pushed content stays.',
    options: [
      ['--max-size SIZE', 'evict until all blobs together take at most SIZE (e.g. 200GiB)'],
      ['--older-than DURATION', 'also evict every cached blob not pulled for this long (e.g. 30d)'],
      ['--dry-run', 'only report what would be evicted: one line per blob (repositories, digest, size, last pull), then the JSON summary'],
      ['--json', 'with --dry-run: only the JSON summary'],
    ],
    example: 'npx registry-mirror prune --max-size 200GiB --dry-run',
  },
  evict: {
    summary: 'Remove one cached image (NAME:TAG or NAME@DIGEST, with its registry host) and the blobs nothing else uses.',
    options: [],
    example: 'npx registry-mirror evict docker.io/library/alpine:3.20',
  },
  warm: {
    summary: 'Pre-pull images (all platforms or --platform ones) into the cache through the normal pull path; a summary as JSON.',
    options: [
      ['--platform LIST', 'only these platforms of an index, e.g. linux/amd64,linux/arm64'],
      ['--concurrency N', 'images and blobs warmed at once (default 4)'],
    ],
    example: 'npx registry-mirror warm docker.io/library/alpine:3.20',
  },
  healthcheck: {
    summary: 'GET /healthz on the configured address (https when http.tls is set); exit 0 when it answers 200, else 1.',
    options: [],
    example: 'npx registry-mirror healthcheck',
  },
  backup: {
    summary: 'Copy the index (one consistent snapshot) and the blob files it names into DIR, a data dir a server can start on; safe while the mirror runs, and a second run into DIR copies only what is new.',
    options: [['--pushed-only', 'only pushed content (local namespaces): mirrored images pull again after a restore']],
    example: 'npx registry-mirror backup /tmp/mirror-backup --pushed-only',
  },
  'migrate-storage': {
    summary: 'Copy a data dir (blob files + index.db) into the S3 store and/or PostgreSQL index the config names, each blob verified by digest; the server must be stopped; a rerun copies only what is missing.',
    options: [
      ['--from DATA_DIR', 'the data dir to copy from (default storage.path)'],
      ['--dry-run', 'only count what would be copied'],
    ],
    example: 'npx registry-mirror migrate-storage --config target.yaml --from ./data --dry-run',
  },
  version: {
    summary: 'Print the version (also --version).',
    options: [],
    example: 'npx registry-mirror --version',
  },
  help: {
    summary: 'Print the commands, or one command\'s options and an example (also COMMAND --help).',
    options: [],
    example: 'npx registry-mirror help prune',
  },
};

/** The text `help [COMMAND]` prints. */
export function helpText(topic?: Command['name']): string {
  if (topic === undefined) {
    const width = Math.max(...Object.keys(HELP).map((n) => n.length));
    const lines = Object.entries(HELP).map(([n, h]) => `  ${n.padEnd(width)}  ${h.summary}`);
    return `${USAGE}\n\ncommands:\n${lines.join('\n')}\n\n` +
      'Commands that read the config take --config FILE (default ./mirror.config.yaml when present); MIRROR_* variables override its keys.\n' +
      'registry-mirror help COMMAND shows its options and an example.';
  }
  const h = HELP[topic];
  const options: Array<[string, string]> = [...h.options, ['--config FILE', 'the config file (default ./mirror.config.yaml when present)']];
  const width = Math.max(...options.map(([o]) => o.length));
  return `registry-mirror ${topic}: ${h.summary}\n\noptions:\n` +
    options.map(([o, d]) => `  ${o.padEnd(width)}  ${d}`).join('\n') + `\n\nexample:\n  ${h.example}`;
}

const TAKES_VALUE = new Set(Object.values(OPTIONS).flatMap((o) => Object.keys(o).filter((k) => o[k])));

/** The options a command accepts (for help and its test). */
export const optionsOf = (name: Command['name']): string[] => Object.keys(OPTIONS[name]);

const isCommand = (name: string): name is Command['name'] => Object.hasOwn(OPTIONS, name);

/**
 * Parses argv (without node and the script). --help and --version are commands; anything
 * else that is wrong throws UsageError. Without --config, ./mirror.config.yaml is used
 * when present.
 */
export function parseArgs(argv: readonly string[], defaultConfig = 'mirror.config.yaml'): Args {
  let name: string | undefined;
  let configFile: string | undefined;
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  /** Arguments after a command that takes them (evict's image). */
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      // `COMMAND --help` is `help COMMAND`; the rest of the line no longer matters.
      return { command: helpFor(name) };
    }
    if (arg === '--version' || arg === '-V') return { command: { name: 'version' } };
    if (!arg.startsWith('-')) {
      if (name === 'help') return { command: helpFor(arg) };
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

/** `help` with an optional topic that must name a command. */
function helpFor(topic: string | undefined): Command {
  if (topic === undefined || topic === 'help') return topic ? { name: 'help', topic } : { name: 'help' };
  if (!isCommand(topic)) throw new UsageError(`unknown command "${topic}"\n${USAGE}`);
  return { name: 'help', topic };
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
        name, dryRun, json: options.has('--json'),
        ...(maxSize !== undefined ? { maxSize } : {}),
        ...(olderThanMs !== undefined ? { olderThanMs } : {}),
      };
    }
    case 'evict':
      if (positionals.length !== 1) throw new UsageError(`evict: needs one image, e.g. docker.io/library/alpine:3.20\n${USAGE}`);
      return { name, image: positionals[0]! };
    case 'warm': {
      if (positionals.length === 0) throw new UsageError(`warm: needs a FILE or an IMAGE\n${USAGE}`);
      const platforms = value('--platform', parsePlatforms) ?? [];
      const concurrency = value('--concurrency', parseConcurrency) ?? 4;
      return { name, sources: positionals, platforms, concurrency };
    }
    case 'backup':
      if (positionals.length !== 1) throw new UsageError(`backup: needs one directory to write the backup to\n${USAGE}`);
      return { name, dest: positionals[0]!, pushedOnly: options.has('--pushed-only') };
    case 'migrate-storage': {
      const from = options.get('--from');
      if (from === '') throw new UsageError(`migrate-storage: --from needs a directory\n${USAGE}`);
      return { name, dryRun, ...(typeof from === 'string' ? { from } : {}) };
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
