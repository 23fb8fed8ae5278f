import { describe, expect, test } from 'vitest';
import { MAX_RETRY_AFTER_MS, RateLimitBudget } from './rate-limit-budget.js';

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

describe('Retry-After', () => {
  test('a 429 with Retry-After seconds limits until then; it lifts on its own', () => {
    let t = 10_000;
    const b = new RateLimitBudget(() => t);
    b.observe(429, { 'retry-after': '30' });
    expect([b.limitedUntil, b.retryAfterSeconds()]).toEqual([40_000, 30]);
    t = 39_001;
    expect(b.retryAfterSeconds()).toBe(1);
    t = 40_000;
    expect([b.limitedUntil, b.retryAfterSeconds()]).toEqual([0, 0]);
  });

  test('an HTTP date works; past dates, garbage and other statuses change nothing; capped at an hour', () => {
    const t = Date.parse('2026-01-01T00:00:00Z');
    const b = new RateLimitBudget(() => t);
    b.observe(429, { 'retry-after': 'Thu, 01 Jan 2026 00:01:00 GMT' });
    expect(b.limitedUntil).toBe(t + 60_000);
    const c = new RateLimitBudget(() => t);
    c.observe(429, { 'retry-after': 'Wed, 31 Dec 2025 00:00:00 GMT' });
    c.observe(429, { 'retry-after': 'soon' });
    c.observe(503, { 'retry-after': '60' });
    expect(c.limitedUntil).toBe(0);
    c.observe(429, { 'retry-after': '99999999' });
    expect(c.limitedUntil).toBe(t + MAX_RETRY_AFTER_MS);
  });
});
