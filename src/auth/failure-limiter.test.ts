import { describe, expect, it } from 'vitest';
import { createFailureLimiter } from './failure-limiter.js';

function limiter(max = 3, windowMs = 60_000, maxKeys?: number) {
  const clock = { now: 1_000_000 };
  const l = createFailureLimiter({ max, windowMs, maxKeys, now: () => clock.now });
  const fail = (key: string) => l.begin(key)(false);
  return { l, clock, fail };
}

describe('failure limiter', () => {
  it('refuses a key after max failures, for the rest of its window, then forgets it', () => {
    const { l, clock, fail } = limiter();
    fail('a');
    fail('a');
    expect(l.retryAfter('a')).toBe(0);
    fail('a');
    expect(l.retryAfter('a')).toBe(60);
    clock.now += 45_500;
    expect(l.retryAfter('a')).toBe(15);
    clock.now += 14_500;
    expect(l.retryAfter('a')).toBe(0);
    fail('a');
    expect(l.retryAfter('a')).toBe(0);
  });

  it('counts keys apart, and successes not at all', () => {
    const { l, fail } = limiter();
    for (let i = 0; i < 3; i++) fail('a');
    for (let i = 0; i < 10; i++) l.begin('b')(true);
    expect(l.retryAfter('a')).toBeGreaterThan(0);
    expect(l.retryAfter('b')).toBe(0);
  });

  it('counts checks in flight, so that parallel guesses cannot all pass before the first fails', () => {
    const { l } = limiter();
    const ends = [l.begin('a'), l.begin('a'), l.begin('a')];
    expect(l.retryAfter('a')).toBeGreaterThan(0);
    ends.forEach((end) => end(true));
    expect(l.retryAfter('a')).toBe(0);
  });

  it('keeps at most maxKeys entries (a flood of new keys evicts the oldest)', () => {
    const { l, fail } = limiter(1, 60_000, 100);
    fail('victim');
    expect(l.retryAfter('victim')).toBeGreaterThan(0);
    for (let i = 0; i < 1_000; i++) fail(`spray-${i}`);
    expect(l.retryAfter('victim')).toBe(0);
    expect(l.retryAfter('spray-999')).toBeGreaterThan(0);
  });
});
