import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from './args.js';

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
});
