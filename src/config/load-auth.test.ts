import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.js';

/** The auth.* and http.trusted_proxies keys of issue 7 (admins, failure limits, trusted proxies). */
describe('loadConfig: admin role, login failure limits, trusted proxies', () => {
  it('defaults: no admins, /metrics for admins only, 10 failures per address and 50 per user a minute, no trusted proxies', () => {
    const c = loadConfig({ env: {} });
    expect(c.auth).toMatchObject({ admins: [], metricsAnonymous: false, maxFailures: 10, maxUserFailures: 50, failureWindowMs: 60_000 });
    expect(c.http.trustedProxies).toEqual([]);
  });

  it('reads them from env as lists, counts, booleans and durations', () => {
    const c = loadConfig({
      env: {
        MIRROR_AUTH_ADMINS: 'alice, ops', MIRROR_AUTH_METRICS_ANONYMOUS: 'true', MIRROR_AUTH_MAX_FAILURES: '5',
        MIRROR_AUTH_MAX_USER_FAILURES: '20', MIRROR_AUTH_FAILURE_WINDOW: '5m', MIRROR_HTTP_TRUSTED_PROXIES: '10.0.0.5,fd00::/8',
      },
    });
    expect(c.auth).toMatchObject({ admins: ['alice', 'ops'], metricsAnonymous: true, maxFailures: 5, maxUserFailures: 20, failureWindowMs: 300_000 });
    expect(c.http.trustedProxies).toEqual(['10.0.0.5', 'fd00::/8']);
  });

  it.each([
    ['MIRROR_HTTP_TRUSTED_PROXIES', '10.0.0.0/33', 'http.trusted_proxies'],
    ['MIRROR_HTTP_TRUSTED_PROXIES', 'proxy.internal', 'http.trusted_proxies'],
    ['MIRROR_AUTH_ADMINS', '*', 'auth.admins'],
    ['MIRROR_AUTH_ADMINS', 'anonymous', 'auth.admins'],
    ['MIRROR_AUTH_MAX_FAILURES', '0', 'auth.max_failures'],
  ])('refuses %s=%s, naming the key', (name, value, key) => {
    let err: unknown;
    try {
      loadConfig({ env: { [name]: value } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(key);
  });
});
