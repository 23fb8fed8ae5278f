import { describe, expect, it } from 'vitest';
import { HELP, helpText, optionsOf, parseArgs, UsageError } from './args.js';

const NO_DEFAULT = '/nonexistent/mirror.config.yaml';
const parse = (...argv: string[]) => parseArgs(argv, NO_DEFAULT);

describe('parseArgs', () => {
  it('serves by default and takes --config before or after the command', () => {
    expect(parse()).toEqual({ command: { name: 'serve' } });
    expect(parse('--config', 'a.yaml', 'stats')).toEqual({ command: { name: 'stats' }, configFile: 'a.yaml' });
    expect(parse('stats', '-c', 'b.yaml')).toEqual({ command: { name: 'stats' }, configFile: 'b.yaml' });
    // npm start -- prune ... runs `main.js serve prune ...`
    expect(parse('serve', 'prune', '--max-size', '1G').command).toMatchObject({ name: 'prune', maxSize: 1e9 });
  });

  it('parses gc options, with a one-hour grace period by default', () => {
    expect(parse('gc')).toEqual({ command: { name: 'gc', graceMs: 3_600_000, dryRun: false } });
    expect(parse('gc', '--grace', '0', '--dry-run').command).toEqual({ name: 'gc', graceMs: 0, dryRun: true });
    expect(parse('gc', '--grace=90m').command).toMatchObject({ graceMs: 5_400_000 });
  });

  it('parses prune sizes and durations as the config does', () => {
    expect(parse('prune', '--max-size', '200GiB').command).toEqual({ name: 'prune', maxSize: 200 * 2 ** 30, dryRun: false, json: false });
    expect(parse('prune', '--older-than=30d', '--dry-run', '--json').command).toEqual({ name: 'prune', olderThanMs: 30 * 86_400_000, dryRun: true, json: true });
  });

  it('evict takes one image operand', () => {
    expect(parse('evict', 'docker.io/library/alpine:3.20').command).toEqual({ name: 'evict', image: 'docker.io/library/alpine:3.20' });
    expect(() => parse('evict')).toThrow(/^evict: needs one image/);
    expect(() => parse('evict', 'a/b:1', 'c/d:2')).toThrow(/^evict: needs one image/);
    expect(() => parse('evict', 'a/b:1', '--dry-run')).toThrow(/^--dry-run: not an option of "evict"/);
  });

  it('migrate-storage: --from DATA_DIR (default storage.path) and --dry-run; nothing else (issue 13)', () => {
    expect(parse('migrate-storage', '--config', 't.yaml').command).toEqual({ name: 'migrate-storage', dryRun: false });
    expect(parse('migrate-storage', '--from', './data', '--dry-run').command).toEqual({ name: 'migrate-storage', from: './data', dryRun: true });
    expect(() => parse('migrate-storage', '--from=')).toThrow(/^migrate-storage: --from needs a directory/);
    expect(() => parse('migrate-storage', './data')).toThrow(/^unexpected argument "\.\/data"/);
    expect(() => parse('migrate-storage', '--to')).toThrow(/^--to: not an option of "migrate-storage"/);
  });

  it('stats: --json or --table forces the output; neither leaves it to the terminal (issue 11)', () => {
    expect(parse('stats', '--json').command).toEqual({ name: 'stats', format: 'json' });
    expect(parse('stats', '--table').command).toEqual({ name: 'stats', format: 'table' });
    expect(() => parse('stats', '--json', '--table')).toThrow(/^stats: --json or --table, not both/);
    expect(() => parse('gc', '--json')).toThrow(/^--json: not an option of "gc"/);
  });

  it('refuses bad values, missing values, options of other commands and unknown commands', () => {
    const cases: Array<[string[], RegExp]> = [
      [['prune', '--max-size', 'nonsense'], /^--max-size: "nonsense" is not a size/],
      [['prune', '--older-than', '5x'], /^--older-than: "5x" is not a duration/],
      [['prune', '--max-size'], /^--max-size: needs a value/],
      [['prune'], /^prune: needs --max-size/],
      [['gc', '--max-size', '1G'], /^--max-size: not an option of "gc"/],
      [['stats', '--dry-run'], /^--dry-run: not an option of "stats"/],
      [['gc', '--dry-run=yes'], /^--dry-run: takes no value/],
      [['vacuum'], /^unknown command "vacuum"/],
      [['gc', 'extra'], /^unexpected argument "extra"/],
    ];
    for (const [argv, message] of cases) {
      expect(() => parse(...argv), argv.join(' ')).toThrow(UsageError);
      expect(() => parse(...argv), argv.join(' ')).toThrow(message);
    }
  });

  it('parses gc --check and --repair (with --dry-run, a repair only checks)', () => {
    expect(parse('gc', '--check').command).toEqual({ name: 'gc', graceMs: 3_600_000, dryRun: false, check: 'check' });
    expect(parse('gc', '--repair', '--grace', '0').command).toEqual({ name: 'gc', graceMs: 0, dryRun: false, check: 'repair' });
    expect(parse('gc', '--repair', '--dry-run').command).toMatchObject({ check: 'check' });
    expect(parse('gc', '--check', '--repair').command).toMatchObject({ check: 'repair' });
  });

  it('parses warm: images and files after the command, --platform and --concurrency', () => {
    expect(parse('warm', 'alpine:3.20', 'images.txt').command).toEqual({ name: 'warm', sources: ['alpine:3.20', 'images.txt'], platforms: [], concurrency: 4 });
    expect(parse('warm', '--platform', 'linux/amd64,Linux/ARM64/v8', 'alpine', '--concurrency=8').command)
      .toEqual({ name: 'warm', sources: ['alpine'], platforms: ['linux/amd64', 'linux/arm64/v8'], concurrency: 8 });
    expect(() => parse('warm')).toThrow(/^warm: needs a FILE or an IMAGE/);
    expect(() => parse('warm', 'alpine', '--platform', 'amd64')).toThrow(/^--platform: "amd64" is not a platform/);
    expect(() => parse('warm', 'alpine', '--concurrency', '0')).toThrow(/^--concurrency: "0" is not a whole number/);
  });
});

describe('help and version', () => {
  it('reads help, help COMMAND, COMMAND --help and --version as commands, not exits', () => {
    expect(parse('help').command).toEqual({ name: 'help' });
    expect(parse('--help').command).toEqual({ name: 'help' });
    expect(parse('help', 'prune').command).toEqual({ name: 'help', topic: 'prune' });
    expect(parse('prune', '--help').command).toEqual({ name: 'help', topic: 'prune' });
    expect(parse('gc', '-h').command).toEqual({ name: 'help', topic: 'gc' });
    // npm start -- help gc runs `main.js serve help gc`
    expect(parse('serve', 'help', 'gc').command).toEqual({ name: 'help', topic: 'gc' });
    expect(parse('--version').command).toEqual({ name: 'version' });
    expect(parse('stats', '-V').command).toEqual({ name: 'version' });
    expect(() => parse('help', 'vacuum')).toThrow(/^unknown command "vacuum"/);
  });

  it('lists every command, and each command help names all its options and an npx example', () => {
    const all = helpText();
    for (const name of Object.keys(HELP)) expect(all).toMatch(new RegExp(`^  ${name} `, 'm'));
    for (const [name, help] of Object.entries(HELP) as Array<[keyof typeof HELP, (typeof HELP)[keyof typeof HELP]]>) {
      const text = helpText(name);
      expect(text.startsWith(`registry-mirror ${name}: `)).toBe(true);
      for (const option of optionsOf(name)) expect(text, `${name} ${option}`).toContain(`  ${option}`);
      expect(text).toContain('--config FILE');
      expect(help.example).toMatch(/^npx registry-mirror /);
      expect(text.endsWith(`example:\n  ${help.example}`)).toBe(true);
    }
  });

  it("each help example parses to its own command", () => {
    for (const [name, help] of Object.entries(HELP)) {
      const argv = help.example.split(' ').slice(2);
      const command = parse(...argv).command;
      expect(command.name === 'help' && name !== 'help' ? command.topic : command.name, help.example).toBe(name);
    }
  });
});
