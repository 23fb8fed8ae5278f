import { describe, expect, test } from 'vitest';
import { Breaker } from './breaker.js';

describe('Breaker', () => {
  test('opens after N consecutive failures; a success in between resets the count', () => {
    let t = 0;
    const b = new Breaker({ failures: 3, openMs: 1000 }, () => t);
    b.failure();
    b.failure();
    b.success();
    b.failure();
    b.failure();
    expect(b.admit()).toBe('closed');
    b.failure();
    expect([b.admit(), b.state, b.until]).toEqual(['skip', 'open', 1000]);
    t = 999;
    expect(b.admit()).toBe('skip');
  });

  test('after openMs exactly one probe; others skip while it runs; success closes', () => {
    let t = 0;
    const b = new Breaker({ failures: 1, openMs: 1000 }, () => t);
    b.failure();
    t = 1000;
    expect(b.state).toBe('half-open');
    expect(b.admit()).toBe('probe');
    expect(b.admit()).toBe('skip');
    b.success();
    expect([b.admit(), b.state]).toEqual(['closed', 'closed']);
  });

  test('a failed probe opens it again for openMs at once, whatever the threshold', () => {
    let t = 0;
    const b = new Breaker({ failures: 5, openMs: 1000 }, () => t);
    for (let i = 0; i < 5; i++) b.failure();
    t = 1500;
    expect(b.admit()).toBe('probe');
    b.failure();
    expect([b.admit(), b.until]).toEqual(['skip', 2500]);
    t = 2500;
    expect(b.admit()).toBe('probe');
  });

  test('trip (wrong bytes) opens it on the first occurrence', () => {
    const b = new Breaker({ failures: 5, openMs: 1000 }, () => 0);
    b.trip();
    expect(b.admit()).toBe('skip');
  });
});
