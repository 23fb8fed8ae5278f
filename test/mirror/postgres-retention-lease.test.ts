/**
 * Issue 13: background retention on several replicas sharing one PostgreSQL index runs on
 * one replica at a time (the index's `retention` lease, ports.ts tryLease). Two mirrors on
 * one database, retention by max_age with every blob long idle: only the lease holder
 * evicts, run after run; the other skips; when the holder stops the other takes over, and
 * a lease left by a crashed replica blocks only until its TTL (two intervals) runs out.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startCoreRetention, type RetentionJob } from '../../src/admin/retention.js';
import { createCore, type Core } from '../../src/core.js';
import { openPgStorage } from '../../src/storage/pg-index.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { mirrorAppConfig } from '../helpers/mirror-app.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

const DAY = 86_400_000;
const INTERVAL_MS = 1000;

let server: TestPostgres;
let up: FakeUpstream;
beforeAll(async () => {
  [server, up] = await Promise.all([startPostgres(), startFakeUpstream()]);
});
afterAll(async () => {
  await up?.close();
  await server?.stop();
});

interface Replica { core: Core; job: RetentionJob; evicted: string[]; stop(): Promise<void> }

describe('retention on replicas sharing a PostgreSQL index', () => {
  let clock = 1_800_000_000_000;
  let seq = 0;

  /** A replica (its own data dir, the shared index, the test's clock) with retention started as `serve` does. */
  async function replica(url: string): Promise<Replica> {
    const core = await createCore(mirrorAppConfig(up.url, {
      MIRROR_INDEX_DRIVER: 'postgres', MIRROR_INDEX_URL: url, MIRROR_INDEX_POOL_SIZE: '2',
      MIRROR_STORAGE_MAX_AGE: '1d', MIRROR_STORAGE_RETENTION_INTERVAL: '1s',
    }), { now: () => clock });
    const evicted: string[] = [];
    core.events.on('blob.evicted', (e) => { evicted.push(e.digest!); });
    const job = startCoreRetention(core);
    let stopped = false;
    return {
      core, job, evicted,
      async stop() {
        if (stopped) return;
        stopped = true;
        await job.stop();
        await core.close();
        rmSync(core.config.storage.path, { recursive: true, force: true });
      },
    };
  }

  /** `n` mirrored blobs in the shared index, idle for two days (past max_age). */
  async function seedIdle(core: Core, n: number): Promise<string[]> {
    const digests: string[] = [];
    for (let i = 0; i < n; i++) {
      const digest = `sha256:${(++seq).toString(16).padStart(64, '0')}`;
      await core.ports.repositories.ensureRepository('library/app', 'mirror', 'docker.io', clock);
      await core.ports.blobs.putBlob('library/app', { digest, size: 10, origin: 'upstream' }, clock - 2 * DAY);
      digests.push(digest);
    }
    return digests;
  }

  test('only the lease holder evicts, interval after interval; once it stops, the other replica takes over', async () => {
    const url = await server.createDatabase();
    const a = await replica(url);
    const b = await replica(url);
    try {
      // Both start-up runs: one of the two held the lease and evicted.
      await Promise.all([a.job.run(), b.job.run()]);
      const first = await seedIdle(a.core, 3);
      // Every replica's tick (called here rather than waited for): only the holder runs.
      for (let i = 0; i < 3; i++) await Promise.all([a.job.run('interval'), b.job.run('interval')]);
      const [holder, other] = a.evicted.length > 0 ? [a, b] : [b, a];
      expect(holder.evicted.sort()).toEqual(first);
      expect(other.evicted).toEqual([]);
      expect(other.core.metrics.retention.runs).toBe(0);
      expect(holder.core.metrics.retention.runs).toBeGreaterThanOrEqual(4);

      // A real timer tick later (the holder's lease renewed, still not expired): the same.
      const second = await seedIdle(a.core, 2);
      await new Promise((r) => setTimeout(r, INTERVAL_MS + 300));
      await Promise.all([a.job.run('interval'), b.job.run('interval')]);
      expect(holder.evicted.sort()).toEqual([...first, ...second].sort());
      expect(other.core.metrics.retention.runs).toBe(0);

      // The holder stops (and hands the lease back): the other's next run takes over.
      await holder.stop();
      const third = await seedIdle(other.core, 2);
      await other.job.run('interval');
      expect(other.evicted.sort()).toEqual(third);
      expect(other.core.metrics.retention.runs).toBe(1);
      expect((await other.core.ports.maintenance.stats()).blobs).toBe(0);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  test('a lease left by a crashed replica blocks retention only until its TTL (two intervals) runs out', async () => {
    const url = await server.createDatabase();
    // A replica that took the lease just now and died without releasing it.
    const crashed = await openPgStorage(url, { poolSize: 1 });
    expect(await crashed.ports.maintenance.tryLease('retention', 'crashed-replica', 2 * INTERVAL_MS, clock)).toBe(true);
    await crashed.close();
    const b = await replica(url);
    try {
      const idle = await seedIdle(b.core, 2);
      await b.job.run('interval');
      expect(b.evicted).toEqual([]);
      expect(b.core.metrics.retention.runs).toBe(0);
      clock += INTERVAL_MS;
      await b.job.run('interval');
      expect(b.evicted).toEqual([]);
      clock += INTERVAL_MS; // the crashed holder's lease has now expired
      await b.job.run('interval');
      expect(b.evicted.sort()).toEqual(idle);
      expect(b.core.metrics.retention.runs).toBe(1);
    } finally {
      await b.stop();
    }
  });
});
