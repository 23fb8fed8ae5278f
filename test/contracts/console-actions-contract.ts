import { describe, expect, it } from 'vitest';
import type { StoragePorts } from '../../src/storage/ports.js';
import { dg, INDEX_TYPE, LOCAL, manifestRow, MIRROR, MIRROR2 } from './index-fixtures.js';

/**
 * The ports the console's confirmation pages read (issue 12): previewEvictImage must list
 * exactly what evictImage then removes, and change nothing; manifestTags lists a
 * manifest's tags. Called inside describeIndexContract (repositories seeded).
 */
export function describeConsoleActionsContract(ports: () => StoragePorts): void {
  const mirrored = (repo: string, c: string, size: number) =>
    ports().blobs.putBlob(repo, { digest: dg(c), size, origin: 'upstream' }, 1);

  /** An index (i) of two platform manifests (p, q) in MIRROR; q's layer 2 is shared with MIRROR2's image (o). */
  async function seedImages() {
    const p = ports();
    for (const [c, size] of [['1', 10], ['2', 20], ['3', 30]] as const) await mirrored(MIRROR, c, size);
    await mirrored(MIRROR2, '2', 20);
    await mirrored(MIRROR2, '4', 40);
    await p.manifests.putManifest(MIRROR, manifestRow(dg('a')), [{ child: dg('1'), kind: 'layer' }, { child: dg('3'), kind: 'config' }], 1);
    await p.manifests.putManifest(MIRROR, manifestRow(dg('b')), [{ child: dg('2'), kind: 'layer' }], 1);
    await p.manifests.putManifest(MIRROR, manifestRow(dg('i'), { mediaType: INDEX_TYPE }),
      [{ child: dg('a'), kind: 'manifest' }, { child: dg('b'), kind: 'manifest' }], 1, { tag: 'latest' });
    await p.tags.putTag(MIRROR, 'stable', dg('i'), 1);
    await p.manifests.putManifest(MIRROR2, manifestRow(dg('o')), [{ child: dg('2'), kind: 'layer' }, { child: dg('4'), kind: 'layer' }], 1, { tag: 'x' });
  }

  describe('console actions', () => {
    it('previewEvictImage lists what evictImage then removes, and changes nothing itself', async () => {
      const p = ports();
      await seedImages();
      const before = await p.maintenance.stats();
      const preview = await p.maintenance.previewEvictImage(MIRROR, dg('i'));
      expect(preview).toBeDefined();
      expect(preview!.manifests.sort()).toEqual([dg('a'), dg('b'), dg('i')]);
      // Blob 2 is MIRROR2's too: it stays.
      expect(preview!.blobs.sort((x, y) => x.digest.localeCompare(y.digest))).toEqual([{ digest: dg('1'), size: 10 }, { digest: dg('3'), size: 30 }]);
      expect(await p.maintenance.stats()).toEqual(before);
      expect((await p.tags.getTag(MIRROR, 'latest'))?.digest).toBe(dg('i'));
      expect(await p.manifests.hasRepoManifest(MIRROR, dg('a'))).toBe(true);
      expect(await p.blobs.getBlob(dg('1'))).toBeDefined();

      const evicted = await p.maintenance.evictImage(MIRROR, dg('i'));
      expect({ manifests: evicted!.manifests.sort(), blobs: evicted!.blobs.sort((x, y) => x.digest.localeCompare(y.digest)) })
        .toEqual({ manifests: preview!.manifests, blobs: preview!.blobs });
      expect(await p.blobs.getBlob(dg('1'))).toBeUndefined();
    });

    it('previewEvictImage is undefined for a manifest the repository does not have', async () => {
      const p = ports();
      await seedImages();
      expect(await p.maintenance.previewEvictImage(MIRROR2, dg('i'))).toBeUndefined();
      expect(await p.maintenance.previewEvictImage(MIRROR, dg('f'))).toBeUndefined();
    });

    it('manifestTags: the repository\'s tags naming the manifest, in order, bounded; undefined when not linked', async () => {
      const p = ports();
      await p.manifests.putManifest(LOCAL, manifestRow(dg('m')), [], 1, { tag: 'v2' });
      await p.tags.putTag(LOCAL, 'v1', dg('m'), 1);
      await p.tags.putTag(LOCAL, 'v3', dg('m'), 1);
      await p.manifests.putManifest(LOCAL, manifestRow(dg('n')), [], 1, { tag: 'other' });
      expect(await p.maintenance.manifestTags(LOCAL, dg('m'), 10)).toEqual(['v1', 'v2', 'v3']);
      expect(await p.maintenance.manifestTags(LOCAL, dg('m'), 2)).toEqual(['v1', 'v2']);
      expect(await p.maintenance.manifestTags(LOCAL, dg('n'), 10)).toEqual(['other']);
      expect(await p.maintenance.manifestTags(MIRROR, dg('m'), 10)).toBeUndefined();
      await p.manifests.putManifest(MIRROR, manifestRow(dg('m')), [], 1);
      expect(await p.maintenance.manifestTags(MIRROR, dg('m'), 10)).toEqual([]);
    });
  });
}
