import { describe, expect, test } from 'vitest';
import { parseOffDuration, parseOffSize } from '../../config/value-parsers.js';
import { formatDuration, sizeText } from './housekeeping-values.js';

describe('housekeeping values', () => {
  test('sizes are written in the largest exact binary unit, else in bytes', () => {
    expect(sizeText(10 * 2 ** 30)).toBe('10GiB');
    expect(sizeText(1536 * 2 ** 20)).toBe('1536MiB');
    expect(sizeText(3 * 2 ** 40)).toBe('3TiB');
    expect(sizeText(1000)).toBe('1000');
    expect(sizeText(1)).toBe('1');
  });

  test('durations in the largest exact unit, else in ms', () => {
    expect(formatDuration(30 * 86_400_000)).toBe('30d');
    expect(formatDuration(36 * 3_600_000)).toBe('36h');
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(1500)).toBe('1500ms');
  });

  test('what they write, the config parsers (the form, the CLI) read back unchanged', () => {
    for (const n of [1, 1000, 2 ** 20, 10 * 2 ** 30, 123_456_789]) expect(parseOffSize(sizeText(n))).toBe(n);
    for (const ms of [1, 1500, 60_000, 7 * 86_400_000, 90_061_001]) expect(parseOffDuration(formatDuration(ms))).toBe(ms);
  });
});
