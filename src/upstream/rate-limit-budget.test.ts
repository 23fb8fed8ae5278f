import { describe, expect, test } from 'vitest';
import { RateLimitBudget } from './rate-limit-budget.js';

describe('RateLimitBudget', () => {
  test('reads Docker Hub headers; low below the minimum, not at it', () => {
    const b = new RateLimitBudget(() => 0);
    expect(b.remaining).toBeUndefined();
    expect(b.isLow(10)).toBe(false);
    b.observe(200, { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '10;w=21600' });
    expect([b.limit, b.remaining, b.isLow(10)]).toEqual([100, 10, false]);
    b.observe(200, { 'ratelimit-remaining': '9;w=21600' });
    expect([b.remaining, b.isLow(10), b.isLow(0)]).toEqual([9, true, false]);
  });

  test('a 429 leaves nothing; answers without the headers change nothing', () => {
    const b = new RateLimitBudget(() => 0);
    b.observe(200, { 'ratelimit-remaining': '50' });
    b.observe(200, { 'content-type': 'application/json' });
    expect(b.remaining).toBe(50);
    b.observe(429, {});
    expect(b.remaining).toBe(0);
    expect(b.isLow(1)).toBe(true);
  });

  test('forgotten once its window has passed; junk is unknown', () => {
    let now = 0;
    const b = new RateLimitBudget(() => now);
    b.observe(200, { 'ratelimit-remaining': '0;w=60' });
    expect(b.isLow(10)).toBe(true);
    now = 60_000;
    expect(b.remaining).toBeUndefined();
    expect(b.isLow(10)).toBe(false);
    b.observe(200, { 'ratelimit-remaining': 'lots' });
    expect(b.remaining).toBeUndefined();
  });
});
