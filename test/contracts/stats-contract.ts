import { describe, expect, it } from 'vitest';
import type { StoragePorts } from '../../src/storage/ports.js';
import { dg, LOCAL, manifestRow, MIRROR, MIRROR2 } from './index-fixtures.js';

const H = 3_600_000;

/**
 * Issue 11's stats part of the MaintenanceIndex contract: hourly counter buckets added by
 * flushes, pulls per repository, and what the cache holds. Called inside
 * describeIndexContract (repositories seeded).
 */
export function describeStatsContract(ports: () => StoragePorts): void {
  describe('persisted stats', () => {
    it('adds counters to their hourly bucket; sums from a bucket on, or over all', async () => {
      const m = ports().maintenance;
      expect(await m.sumStats()).toEqual({});
      await m.addStats({ hour: 10 * H, counters: { 'manifest.hit': 2, 'bytes.served': 100 }, repoPulls: [] });
      await m.addStats({ hour: 10 * H, counters: { 'manifest.hit': 1, 'blob.miss': 0 }, repoPulls: [] });
      await m.addStats({ hour: 12 * H, counters: { 'manifest.hit': 5, 'blob.miss': 1 }, repoPulls: [] });
      expect(await m.sumStats()).toEqual({ 'blob.miss': 1, 'bytes.served': 100, 'manifest.hit': 8 });
      expect(await m.sumStats(11 * H)).toEqual({ 'blob.miss': 1, 'manifest.hit': 5 });
      expect(await m.sumStats(10 * H)).toEqual(await m.sumStats());
      expect(await m.sumStats(13 * H)).toEqual({});
    });

    it('folds hourly buckets older than five weeks into the all-time total: totals stay exact, old hours leave the per-hour sums', async () => {
      const m = ports().maintenance;
      const now = 1000 * H;
      await m.addStats({ hour: now - 36 * 24 * H, counters: { 'manifest.hit': 4 }, repoPulls: [] });
      await m.addStats({ hour: now - 35 * 24 * H - H, counters: { 'manifest.hit': 2, 'blob.hit': 1 }, repoPulls: [] });
      await m.addStats({ hour: now - 34 * 24 * H, counters: { 'manifest.hit': 1 }, repoPulls: [] });
      expect(await m.sumStats(1)).toEqual({ 'blob.hit': 1, 'manifest.hit': 7 });
      await m.addStats({ hour: now, counters: { 'manifest.hit': 10 }, repoPulls: [] });
      expect(await m.sumStats()).toEqual({ 'blob.hit': 1, 'manifest.hit': 17 });
      // Only the buckets inside the window are still there by hour.
      expect(await m.sumStats(1)).toEqual({ 'manifest.hit': 11 });
      await m.addStats({ hour: now + H, counters: { 'manifest.hit': 1 }, repoPulls: [] });
      expect(await m.sumStats()).toEqual({ 'blob.hit': 1, 'manifest.hit': 18 });
    });

    it('lists the counters per hourly bucket from a bucket on, oldest first, without the folded all-time bucket', async () => {
      const m = ports().maintenance;
      expect(await m.statsSeries(0)).toEqual([]);
      await m.addStats({ hour: 12 * H, counters: { 'manifest.hit': 5, 'blob.miss': 1 }, repoPulls: [] });
      await m.addStats({ hour: 10 * H, counters: { 'manifest.hit': 2, 'bytes.served': 100 }, repoPulls: [] });
      await m.addStats({ hour: 10 * H, counters: { 'manifest.hit': 1 }, repoPulls: [] });
      expect(await m.statsSeries(0)).toEqual([
        { hour: 10 * H, counters: { 'bytes.served': 100, 'manifest.hit': 3 } },
        { hour: 12 * H, counters: { 'blob.miss': 1, 'manifest.hit': 5 } },
      ]);
      expect(await m.statsSeries(11 * H)).toEqual([{ hour: 12 * H, counters: { 'blob.miss': 1, 'manifest.hit': 5 } }]);
      expect(await m.statsSeries(13 * H)).toEqual([]);
      // Hours folded into bucket 0 (older than five weeks) are no longer listed by hour.
      await m.addStats({ hour: 1000 * H, counters: { 'manifest.hit': 1 }, repoPulls: [] });
      expect(await m.statsSeries(0)).toEqual([{ hour: 1000 * H, counters: { 'manifest.hit': 1 } }]);
    });

    it('reports bytes by origin, oldest access and the top repositories by bytes and by pulls', async () => {
      const p = ports();
      const m = p.maintenance;
      expect(await m.cacheContents(10)).toEqual({
        bytesByOrigin: { mirrored: 0, pushed: 0 }, manifestBytes: 0, oldestAccess: null, topByBytes: [], topByPulls: [],
      });
      await p.blobs.putBlob(MIRROR, { digest: dg('1'), size: 100, origin: 'upstream' }, 500);
      await p.blobs.putBlob(MIRROR2, { digest: dg('1'), size: 100, origin: 'upstream' }, 600);
      await p.blobs.putBlob(MIRROR2, { digest: dg('2'), size: 50, origin: 'upstream' }, 700);
      await p.blobs.putBlob(LOCAL, { digest: dg('3'), size: 7, origin: 'push' }, 800);
      const row = manifestRow(dg('m'));
      await p.manifests.putManifest(MIRROR, row, [], 300);
      await m.addStats({ hour: 0, counters: {}, repoPulls: [{ repo: MIRROR, pulls: 3, at: 900 }] });
      await m.addStats({ hour: H, counters: {}, repoPulls: [{ repo: MIRROR, pulls: 1, at: 800 }, { repo: LOCAL, pulls: 2, at: 900 }] });
      const c = await m.cacheContents(2);
      expect(c.bytesByOrigin).toEqual({ mirrored: 150, pushed: 7 });
      expect(c.manifestBytes).toBe(row.size);
      expect(c.oldestAccess).toBe(300);
      expect(c.topByBytes).toEqual([{ repo: MIRROR2, bytes: 150, pulls: 0 }, { repo: MIRROR, bytes: 100, pulls: 4 }]);
      expect(c.topByPulls).toEqual([{ repo: MIRROR, bytes: 100, pulls: 4 }, { repo: LOCAL, bytes: 7, pulls: 2 }]);
    });
  });
}
