import { existsSync } from 'node:fs';
import { parseDuration, parseSize } from '../config/parse.js';

/**
 * Command-line arguments: `registry-mirror [command] [--config FILE] [options]`.
 * Options are checked against the command that takes them; values (sizes, durations) are
 * parsed here, once, so that a typo is one line on stderr and exit code 2.
 */
export const USAGE = `usage: registry-mirror [serve|stats|migrate] [--config FILE]
       registry-mirror gc [--grace 1h] [--dry-run] [--config FILE]
       registry-mirror prune [--max-size SIZE] [--older-than DURATION] [--dry-run] [--config FILE]
       registry-mirror healthcheck [--config FILE]
       registry-mirror help [COMMAND] | --version`;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type Command =
  | { name: 'serve' | 'stats' | 'migrate' }
  | { name: 'gc'; graceMs: number; dryRun: boolean }
  | { name: 'prune'; maxSize?: number; olderThanMs?: number; dryRun: boolean }
  | { name: 'healthcheck' }
  | { name: 'version' }
  | { name: 'help'; topic?: Command['name'] };

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
  prune: { '--max-size': true, '--older-than': true, '--dry-run': false },
  healthcheck: {},
  version: {},
  help: {},
};
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
    summary: 'Print index counts and sizes as JSON, read from the index (the server need not run).',
    options: [],
    example: 'npx registry-mirror stats',
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
    ],
    example: 'npx registry-mirror gc --grace 1h --dry-run',
  },
  prune: {
    summary: 'Evict cached (mirrored) blobs, least recently used first; pushed content stays.',
    options: [
      ['--max-size SIZE', 'evict until all blobs together take at most SIZE (e.g. 200GiB)'],
      ['--older-than DURATION', 'also evict every cached blob not pulled for this long (e.g. 30d)'],
      ['--dry-run', 'only report what would be evicted'],
    ],
    example: 'npx registry-mirror prune --max-size 200GiB --dry-run',
  },
  healthcheck: {
    summary: 'GET /healthz on the configured address (https when http.tls is set); exit 0 when it answers 200, else 1.',
    options: [],
    example: 'npx registry-mirror healthcheck',
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
 * Parses argv (without node and the script). --help prints USAGE and exits; anything
 * else that is wrong throws UsageError. Without --config, ./mirror.config.yaml is used
 * when present.
 */
export function parseArgs(argv: readonly string[], defaultConfig = 'mirror.config.yaml'): Args {
  let name: string | undefined;
  let configFile: string | undefined;
  const options = new Map<string, string | true>();
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
  return { command: buildCommand(name, options), ...(configFile ? { configFile } : {}) };
}

/** `help` with an optional topic that must name a command. */
function helpFor(topic: string | undefined): Command {
  if (topic === undefined || topic === 'help') return topic ? { name: 'help', topic } : { name: 'help' };
  if (!isCommand(topic)) throw new UsageError(`unknown command "${topic}"\n${USAGE}`);
  return { name: 'help', topic };
}

/** A duration as config writes it ("30s", "1h", "30d"); a bare 0 needs no unit. */
const parseCliDuration = (v: unknown): number => (typeof v === 'string' && /^\s*0+\s*$/.test(v) ? 0 : parseDuration(v));

function buildCommand(name: Command['name'], options: Map<string, string | true>): Command {
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
        name, dryRun,
        ...(maxSize !== undefined ? { maxSize } : {}),
        ...(olderThanMs !== undefined ? { olderThanMs } : {}),
      };
    }
    default:
      return { name };
  }
}
