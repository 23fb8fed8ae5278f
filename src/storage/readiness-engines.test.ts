import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createReadinessCheck } from './readiness.js';

const root = mkdtempSync(join(tmpdir(), 'mirror-readiness-engines-'));
mkdirSync(join(root, 'tmp'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('/readyz over the shared engines (issue 13)', () => {
  it('not ready with the engines\' reason; probed at most once per cache interval', async () => {
    let clock = 0;
    let calls = 0;
    let reason: string | undefined = 'index unavailable (PostgreSQL: PG_UNAVAILABLE)';
    const check = createReadinessCheck({
      root, minFree: { bytes: 0, percent: 0 }, cacheMs: 5000, now: () => clock,
      engines: async () => { calls++; return reason; },
    });
    expect(await check()).toMatchObject({ ready: false, reason: 'index unavailable (PostgreSQL: PG_UNAVAILABLE)' });
    await Promise.all([check(), check(), check()]);
    reason = undefined;
    clock = 4999;
    expect((await check()).ready).toBe(false); // still the cached answer
    expect(calls).toBe(1);
    clock = 5000;
    expect(await check()).toMatchObject({ ready: true });
    expect(calls).toBe(2);
  });

  it('an engine check that throws is not ready, without its message', async () => {
    const check = createReadinessCheck({
      root, minFree: { bytes: 0, percent: 0 }, engines: async () => { throw new Error('connect ECONNREFUSED 10.0.0.7:5432'); },
    });
    const r = await check();
    expect(r.ready).toBe(false);
    expect(r.reason).not.toContain('10.0.0.7');
  });

  it('engines that do not answer at all are not ready once the timeout passes, not when they finally would', async () => {
    const check = createReadinessCheck({
      root, minFree: { bytes: 0, percent: 0 }, enginesTimeoutMs: 100, engines: () => new Promise<string | undefined>(() => {}),
    });
    const started = Date.now();
    expect(await check()).toMatchObject({ ready: false, reason: 'storage engines did not answer within 100 ms' });
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
