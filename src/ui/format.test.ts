import { describe, expect, it } from 'vitest';
import { formatBytes, formatExact, formatPercent, formatRelative, shortDigest } from './format.js';

describe('console formats', () => {
  it('sizes in binary units with three significant digits', () => {
    expect([0, 512, 1024, 1536, 10 * 1024 * 1024 + 300_000, 1024 ** 3 * 1.2, 1024 ** 4 * 150].map(formatBytes))
      .toEqual(['0 B', '512 B', '1.00 KiB', '1.50 KiB', '10.3 MiB', '1.20 GiB', '150 TiB'].map((t) => t.replace(' ', '\u00a0')));
    expect(formatBytes(-1)).toBe('–');
    expect(formatBytes(Number.NaN)).toBe('–');
  });

  it('times relative to now, past and future', () => {
    const now = Date.UTC(2026, 10, 29, 12);
    expect(formatRelative(now - 10_000, now)).toBe('just now');
    expect(formatRelative(now - 5 * 60_000, now)).toBe('5 min ago');
    expect(formatRelative(now - 3 * 3_600_000, now)).toBe('3 h ago');
    expect(formatRelative(now - 86_400_000, now)).toBe('1 day ago');
    expect(formatRelative(now - 3 * 86_400_000, now)).toBe('3 days ago');
    expect(formatRelative(now + 4 * 60_000, now)).toBe('in 4 min');
    expect(formatExact(now)).toBe('2026-11-29 12:00:00Z');
  });

  it('percents and short digests', () => {
    expect(formatPercent(0.8775)).toBe('87.8\u00a0%');
    expect(formatPercent(null)).toBe('–');
    expect(shortDigest(`sha256:${'ab'.repeat(32)}`)).toBe('sha256:abababababab');
  });
});
