import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSessions } from './session.js';

describe('console sessions', () => {
  const key = randomBytes(32);
  let clock = 1_000_000;
  const sessions = createSessions({ key, ttlMs: 60_000, now: () => clock });

  it('reads back what it issued until it expires', () => {
    const { cookieValue, session } = sessions.issue('alice');
    expect(sessions.read(cookieValue)).toEqual(session);
    clock += 60_000;
    expect(sessions.read(cookieValue)).toBeUndefined();
  });

  it('refuses a cookie signed with another key, or altered', () => {
    const other = createSessions({ key: randomBytes(32), ttlMs: 60_000, now: () => clock });
    const { cookieValue } = other.issue('root');
    expect(sessions.read(cookieValue)).toBeUndefined();
    const mine = sessions.issue('alice').cookieValue;
    const [payload, mac] = mine.split('.');
    const forged = Buffer.from(JSON.stringify({ u: 'root', e: clock + 1e9, n: 'x' })).toString('base64url');
    expect(sessions.read(`${forged}.${mac}`)).toBeUndefined();
    expect(sessions.read(`${payload}.`)).toBeUndefined();
    expect(sessions.read(undefined)).toBeUndefined();
  });

  it('binds a CSRF token to its nonce', () => {
    const a = sessions.nonce();
    const b = sessions.nonce();
    expect(sessions.csrfMatches(a, sessions.csrfFor(a))).toBe(true);
    expect(sessions.csrfMatches(a, sessions.csrfFor(b))).toBe(false);
    expect(sessions.csrfMatches(a, undefined)).toBe(false);
    expect(sessions.csrfMatches(a, '')).toBe(false);
  });
});
