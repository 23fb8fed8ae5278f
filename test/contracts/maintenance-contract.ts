import { describe, expect, it } from 'vitest';
import { AccessBatcher } from '../../src/storage/access-batcher.js';
import type { StoragePorts } from '../../src/storage/ports.js';
import { dg, INDEX_TYPE, LOCAL, LOCAL2, manifestRow, MIRROR, MIRROR2 } from './index-fixtures.js';

/**
 * The MaintenanceIndex and AccessLog part of the index contract: the queries GC and prune
 * decide over, and access bookkeeping as they see it. Called inside describeIndexContract
 * (repositories seeded); `ports()` is the current test's backend.
 */
export function describeMaintenanceContract(ports: () => StoragePorts): void {
  const mirrored = (c: string, size: number, at: number) =>
    ports().blobs.putBlob(MIRROR, { digest: dg(c), size, origin: 'upstream' }, at);
  const pushed = (c: string, size: number, at: number, repo = LOCAL) =>
    ports().blobs.putBlob(repo, { digest: dg(c), size, origin: 'push' }, at);
  const evictable = async (limit = 100) => (await ports().maintenance.listEvictableBlobs(limit)).map((b) => b.digest);

  describe('access bookkeeping', () => {
    it('is written by a batcher flush: last access raised (never lowered), hits added, unknown digests ignored', async () => {
      const p = ports();
      await mirrored('1', 10, 100);
      await mirrored('2', 10, 100);
      await p.manifests.putManifest(MIRROR, manifestRow(dg('m')), [], 100);
      const batcher = new AccessBatcher(p.access);
      batcher.touchBlob(dg('1'), 500);
      batcher.touchBlob(dg('1'), 400);
      batcher.touchBlob(dg('2'), 50);
      batcher.touchBlob(dg('f'), 600);
      batcher.touchManifest(dg('m'), 500);
      expect(await p.maintenance.listEvictableBlobs(10)).toEqual([
        { digest: dg('1'), size: 10, lastAccess: 100, hits: 0 },
        { digest: dg('2'), size: 10, lastAccess: 100, hits: 0 },
      ]);
      await batcher.flush();
      expect(batcher.empty).toBe(true);
      expect(await p.maintenance.listEvictableBlobs(10)).toEqual([
        { digest: dg('2'), size: 10, lastAccess: 100, hits: 1 },
        { digest: dg('1'), size: 10, lastAccess: 500, hits: 2 },
      ]);
      expect(await p.blobs.getBlob(dg('f'))).toBeUndefined();
      expect(await p.maintenance.stats()).toMatchObject({ blobs: 2, manifests: 1 });
    });
  });

  describe('maintenance', () => {
    it('stats counts every row and sums blob sizes, pushed ones included', async () => {
      const p = ports();
      await mirrored('1', 10, 1);
      await pushed('2', 5, 1);
      await p.manifests.putManifest(LOCAL, manifestRow(dg('m')), [], 1, { tag: 'v1' });
      expect(await p.maintenance.stats()).toEqual({ blobs: 2, blobBytes: 15, manifests: 1, tags: 1, repositories: 4 });
    });

    it('upstreamStats: per upstream, its repositories, blob links, distinct blobs and their bytes; local repositories not counted', async () => {
      const p = ports();
      expect(await p.maintenance.upstreamStats()).toEqual([{ upstream: 'docker.io', repositories: 2, blobLinks: 0, blobs: 0, blobBytes: 0 }]);
      await p.repositories.ensureRepository('ghcr.io/owner/app', 'mirror', 'ghcr.io', 1);
      await mirrored('1', 10, 1);
      await p.blobs.putBlob(MIRROR2, { digest: dg('1'), size: 10, origin: 'upstream' }, 1);
      await p.blobs.putBlob(MIRROR2, { digest: dg('2'), size: 7, origin: 'upstream' }, 1);
      // One blob of two upstreams: stored once, counted for each.
      await p.blobs.putBlob('ghcr.io/owner/app', { digest: dg('1'), size: 10, origin: 'upstream' }, 1);
      await pushed('3', 5, 1);
      expect(await p.maintenance.upstreamStats()).toEqual([
        { upstream: 'docker.io', repositories: 2, blobLinks: 3, blobs: 2, blobBytes: 17 },
        { upstream: 'ghcr.io', repositories: 1, blobLinks: 1, blobs: 1, blobBytes: 10 },
      ]);
    });

    it('lists evictable blobs least recently accessed first, then fewest hits, then digest, paged after a candidate', async () => {
      const p = ports();
      await mirrored('3', 1, 200);
      await mirrored('2', 1, 100);
      await mirrored('1', 1, 100);
      await mirrored('4', 1, 100);
      await p.access.recordAccess({ blobs: [{ digest: dg('1'), at: 100, hits: 5 }], manifests: [] });
      expect(await evictable()).toEqual([dg('2'), dg('4'), dg('1'), dg('3')]);
      const first = await p.maintenance.listEvictableBlobs(2);
      expect(first.map((b) => b.digest)).toEqual([dg('2'), dg('4')]);
      const next = await p.maintenance.listEvictableBlobs(2, first[1]);
      expect(next.map((b) => b.digest)).toEqual([dg('1'), dg('3')]);
      expect(await p.maintenance.listEvictableBlobs(2, next[1])).toEqual([]);
    });

    it('never lists pushed blobs, nor mirrored ones linked into a local repository', async () => {
      const p = ports();
      await mirrored('1', 1, 1);
      await pushed('2', 1, 1);
      await mirrored('3', 1, 1);
      await p.blobs.linkBlob(LOCAL2, dg('3'));
      await mirrored('4', 1, 1);
      await p.blobs.putBlob(LOCAL, { digest: dg('4'), size: 1, origin: 'push' }, 1);
      expect(await evictable()).toEqual([dg('1')]);
    });

    it('deleteEvictableBlobs deletes rows and links, skipping any accessed, pushed or linked locally since listed', async () => {
      const p = ports();
      for (const c of ['1', '2', '3', '4']) await mirrored(c, 1, 1);
      await p.blobs.linkBlob(MIRROR2, dg('1'));
      const listed = await p.maintenance.listEvictableBlobs(10);
      await p.access.recordAccess({ blobs: [{ digest: dg('2'), at: 1, hits: 1 }], manifests: [] });
      await p.blobs.linkBlob(LOCAL, dg('3'));
      expect((await p.maintenance.deleteEvictableBlobs(listed)).sort()).toEqual([dg('1'), dg('4')]);
      expect(await p.blobs.getBlob(dg('1'))).toBeUndefined();
      expect(await p.blobs.hasRepoBlob(MIRROR2, dg('1'))).toBe(false);
      expect(await p.blobs.getBlob(dg('2'))).toBeDefined();
      expect(await p.blobs.getBlob(dg('3'))).toBeDefined();
      expect(await p.maintenance.deleteEvictableBlobs(listed)).toEqual([]);
    });

    it('lists unused manifests in digest order: unlinked ones, not children of a linked index, whatever their referrers', async () => {
      const p = ports();
      await p.manifests.putManifest(LOCAL, manifestRow(dg('2')), [], 1);
      await p.manifests.putManifest(LOCAL, manifestRow(dg('c')), [], 1);
      await p.manifests.putManifest(LOCAL, manifestRow(dg('i'), { mediaType: INDEX_TYPE }), [{ child: dg('c'), kind: 'manifest' }], 1);
      await p.manifests.putManifest(LOCAL, manifestRow(dg('1'), { subject: dg('2') }), [{ child: dg('2'), kind: 'subject' }], 1);
      expect(await p.maintenance.listUnusedManifests()).toEqual([]);
      await p.manifests.unlinkManifest(LOCAL, dg('c'));
      expect(await p.maintenance.listUnusedManifests()).toEqual([]);
      await p.manifests.unlinkManifest(LOCAL, dg('i'));
      await p.manifests.unlinkManifest(LOCAL, dg('2'));
      expect(await p.maintenance.listUnusedManifests()).toEqual([dg('2'), dg('c'), dg('i')]);
    });

    it('deleteUnusedManifests deletes those still unused, with tags naming them, and skips one linked meanwhile', async () => {
      const p = ports();
      await p.manifests.putManifest(LOCAL, manifestRow(dg('1')), [], 1);
      await p.manifests.putManifest(LOCAL, manifestRow(dg('2')), [], 1);
      await p.manifests.unlinkManifest(LOCAL, dg('1'));
      await p.manifests.unlinkManifest(LOCAL, dg('2'));
      await p.tags.putTag(LOCAL2, 'dangling', dg('1'), 1);
      const listed = await p.maintenance.listUnusedManifests();
      await p.manifests.putManifest(LOCAL2, manifestRow(dg('2')), [], 2);
      expect(await p.maintenance.deleteUnusedManifests(listed)).toEqual([dg('1')]);
      expect(await p.manifests.getManifest(dg('1'))).toBeUndefined();
      expect(await p.tags.getTag(LOCAL2, 'dangling')).toBeUndefined();
      expect(await p.manifests.getManifest(dg('2'))).toBeDefined();
      expect(await p.maintenance.deleteUnusedManifests([])).toEqual([]);
    });

    it('lists unused pushed blobs older than the cut-off, in digest order; mirrored ones never', async () => {
      const p = ports();
      await pushed('4', 4, 10);
      await pushed('3', 3, 10);
      await pushed('2', 2, 10);
      await pushed('5', 5, 50); // created after the cut-off
      await pushed('6', 6, 10);
      await p.access.recordAccess({ blobs: [{ digest: dg('6'), at: 50, hits: 1 }], manifests: [] }); // accessed after it
      await mirrored('1', 1, 10);
      await p.manifests.putManifest(LOCAL, manifestRow(dg('a')), [{ child: dg('2'), kind: 'layer' }], 10);
      await p.manifests.putManifest(LOCAL, manifestRow(dg('b')), [{ child: dg('3'), kind: 'config' }], 10);
      await p.manifests.unlinkManifest(LOCAL, dg('b')); // a blob used only by an unused manifest is unused
      expect(await p.maintenance.listUnusedPushedBlobs(20)).toEqual([
        { digest: dg('3'), size: 3, origin: 'push' },
        { digest: dg('4'), size: 4, origin: 'push' },
      ]);
    });

    it('deleteUnusedPushedBlobs deletes rows and links of those still unused, skipping one a push used meanwhile', async () => {
      const p = ports();
      await pushed('1', 1, 10);
      await pushed('2', 2, 10);
      await p.blobs.linkBlob(LOCAL2, dg('1'));
      const listed = (await p.maintenance.listUnusedPushedBlobs(20)).map((b) => b.digest);
      expect(listed).toEqual([dg('1'), dg('2')]);
      await p.manifests.putManifest(LOCAL, manifestRow(dg('a')), [{ child: dg('2'), kind: 'layer' }], 30, { requireRefs: true });
      expect(await p.maintenance.deleteUnusedPushedBlobs(listed, 20)).toEqual([dg('1')]);
      expect(await p.blobs.getBlob(dg('1'))).toBeUndefined();
      expect(await p.blobs.hasRepoBlob(LOCAL2, dg('1'))).toBe(false);
      expect(await p.blobs.getBlob(dg('2'))).toBeDefined();
      expect(await p.maintenance.deleteUnusedPushedBlobs([], 20)).toEqual([]);
    });

    it('lists every blob row, mirrored and pushed, in digest order, page by page (gc --check)', async () => {
      const p = ports();
      await pushed('3', 30, 10);
      await mirrored('1', 10, 10);
      await mirrored('2', 20, 10);
      expect(await p.maintenance.listBlobs(2)).toEqual([
        { digest: dg('1'), size: 10, origin: 'upstream' },
        { digest: dg('2'), size: 20, origin: 'upstream' },
      ]);
      expect(await p.maintenance.listBlobs(2, dg('2'))).toEqual([{ digest: dg('3'), size: 30, origin: 'push' }]);
      expect(await p.maintenance.listBlobs(2, dg('3'))).toEqual([]);
    });
  });
}
