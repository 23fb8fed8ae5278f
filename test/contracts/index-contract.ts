import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isOciError } from '../../src/oci/errors.js';
import type { StoragePorts } from '../../src/storage/ports.js';
import {
  dg, DOCKER_TYPE, IMAGE_TYPE, INDEX_TYPE, LOCAL, LOCAL2, manifestRow, MIRROR, MIRROR2, seedRepositories, UPSTREAM,
} from './index-fixtures.js';
import { describeMaintenanceContract } from './maintenance-contract.js';
import { describeStatsContract } from './stats-contract.js';
import { describeConsoleActionsContract } from './console-actions-contract.js';

/** One fresh, empty index of the backend under test. */
export interface IndexBackend {
  ports: StoragePorts;
  /** Closes it and removes what it stored. */
  cleanup(): Promise<void>;
}

export type IndexBackendFactory = () => Promise<IndexBackend>;

/**
 * The index ports' contract (ports.ts): what every backend must answer, observed only
 * through the ports. Run by test/contracts/*.contract.test.ts for each backend.
 */
export function describeIndexContract(name: string, factory: IndexBackendFactory): void {
  describe(`index contract: ${name}`, () => {
    let backend: IndexBackend;
    let p: StoragePorts;
    beforeEach(async () => {
      backend = await factory();
      p = backend.ports;
      await seedRepositories(p);
    });
    afterEach(() => backend.cleanup());

    describe('tags', () => {
      it('a missing tag is undefined; putTag round-trips, marking it fetched and checked now', async () => {
        expect(await p.tags.getTag(MIRROR, 'latest')).toBeUndefined();
        await p.tags.putTag(MIRROR, 'latest', dg('a'), 1000);
        expect(await p.tags.getTag(MIRROR, 'latest')).toEqual({ digest: dg('a'), fetchedAt: 1000, checkedAt: 1000 });
        expect(await p.tags.getTag(MIRROR2, 'latest')).toBeUndefined();
      });

      it('putTag moves a tag; markTagChecked changes only checkedAt and creates nothing', async () => {
        await p.tags.putTag(MIRROR, 'latest', dg('a'), 1000);
        await p.tags.markTagChecked(MIRROR, 'latest', 2000);
        expect(await p.tags.getTag(MIRROR, 'latest')).toEqual({ digest: dg('a'), fetchedAt: 1000, checkedAt: 2000 });
        await p.tags.putTag(MIRROR, 'latest', dg('b'), 3000);
        expect(await p.tags.getTag(MIRROR, 'latest')).toEqual({ digest: dg('b'), fetchedAt: 3000, checkedAt: 3000 });
        await p.tags.markTagChecked(MIRROR, 'absent', 4000);
        expect(await p.tags.getTag(MIRROR, 'absent')).toBeUndefined();
      });

      it('deleteTag removes one tag of one repository and is idempotent', async () => {
        await p.tags.putTag(MIRROR, 'a', dg('a'), 1);
        await p.tags.putTag(MIRROR2, 'a', dg('a'), 1);
        await p.tags.deleteTag(MIRROR, 'a');
        await p.tags.deleteTag(MIRROR, 'a');
        expect(await p.tags.getTag(MIRROR, 'a')).toBeUndefined();
        expect((await p.tags.getTag(MIRROR2, 'a'))?.digest).toBe(dg('a'));
      });

      it('listTags is in byte order, per repository, at most n, strictly after last', async () => {
        for (const t of ['v1.9', 'v1.10', 'B', 'a', '_x', '1']) await p.tags.putTag(LOCAL, t, dg('a'), 1);
        await p.tags.putTag(LOCAL2, 'zzz', dg('a'), 1);
        expect(await p.tags.listTags(LOCAL, 100)).toEqual(['1', 'B', '_x', 'a', 'v1.10', 'v1.9']);
        expect(await p.tags.listTags(LOCAL, 2)).toEqual(['1', 'B']);
        expect(await p.tags.listTags(LOCAL, 2, 'B')).toEqual(['_x', 'a']);
        expect(await p.tags.listTags(LOCAL, 100, 'b')).toEqual(['v1.10', 'v1.9']);
        expect(await p.tags.listTags(LOCAL, 100, 'v1.9')).toEqual([]);
        expect(await p.tags.listTags('no/such', 100)).toEqual([]);
      });
    });

    describe('repositories', () => {
      it('ensureRepository is idempotent and keeps the first kind', async () => {
        await p.repositories.ensureRepository(MIRROR, 'local', null, 2);
        expect(await p.repositories.listRepositories('mirror', 10)).toEqual([MIRROR, MIRROR2]);
        expect(await p.repositories.listRepositories('local', 10)).toEqual([LOCAL, LOCAL2]);
        expect(await p.repositories.hasRepository(MIRROR)).toBe(true);
        expect(await p.repositories.hasRepository('no/such')).toBe(false);
      });

      it('listRepositories pages in lexical order after last', async () => {
        for (const n of ['b/x', 'a/y', 'c']) await p.repositories.ensureRepository(n, 'local', null, 1);
        expect(await p.repositories.listRepositories('local', 2)).toEqual(['a/y', 'b/x']);
        expect(await p.repositories.listRepositories('local', 2, 'b/x')).toEqual(['c', LOCAL]);
        expect(await p.repositories.listRepositories('local', 10, LOCAL2)).toEqual([]);
      });
    });

    describe('manifests', () => {
      it('a missing manifest is undefined; putManifest round-trips its row and links it to one repository', async () => {
        expect(await p.manifests.getManifest(dg('1'))).toBeUndefined();
        const row = manifestRow(dg('1'), { subject: dg('9'), artifactType: 'application/x-sig', annotations: '{"k":"v"}' });
        await p.manifests.putManifest(LOCAL, row, [], 5);
        expect(await p.manifests.getManifest(dg('1'))).toEqual(row);
        expect(await p.manifests.hasRepoManifest(LOCAL, dg('1'))).toBe(true);
        expect(await p.manifests.hasRepoManifest(LOCAL2, dg('1'))).toBe(false);
        expect(await p.manifests.repoManifestType(LOCAL2, dg('1'))).toBeUndefined();
      });

      it('keeps a media type per repository link; a new put replaces only its own link', async () => {
        await p.manifests.putManifest(MIRROR, manifestRow(dg('1'), { mediaType: DOCKER_TYPE }), [], 1);
        await p.manifests.putManifest(LOCAL, manifestRow(dg('1'), { mediaType: IMAGE_TYPE }), [], 2);
        expect(await p.manifests.repoManifestType(MIRROR, dg('1'))).toBe(DOCKER_TYPE);
        expect(await p.manifests.repoManifestType(LOCAL, dg('1'))).toBe(IMAGE_TYPE);
        await p.manifests.putManifest(MIRROR, manifestRow(dg('1'), { mediaType: INDEX_TYPE }), [], 3);
        expect(await p.manifests.repoManifestType(MIRROR, dg('1'))).toBe(INDEX_TYPE);
        expect(await p.manifests.repoManifestType(LOCAL, dg('1'))).toBe(IMAGE_TYPE);
      });

      it('mirroredManifestType answers only for a mirrored repository of that upstream', async () => {
        await p.manifests.putManifest(LOCAL, manifestRow(dg('1')), [], 1);
        expect(await p.manifests.mirroredManifestType(UPSTREAM, dg('1'))).toBeUndefined();
        await p.manifests.putManifest(MIRROR2, manifestRow(dg('1'), { mediaType: DOCKER_TYPE }), [], 1);
        expect(await p.manifests.mirroredManifestType(UPSTREAM, dg('1'))).toBe(DOCKER_TYPE);
        expect(await p.manifests.mirroredManifestType('ghcr.io', dg('1'))).toBeUndefined();
      });

      it('putManifest with a tag moves the tag with it', async () => {
        await p.manifests.putManifest(LOCAL, manifestRow(dg('1')), [], 7, { tag: 'v1' });
        expect(await p.tags.getTag(LOCAL, 'v1')).toEqual({ digest: dg('1'), fetchedAt: 7, checkedAt: 7 });
      });

      it('requireRefs refuses a reference missing from the repository with MANIFEST_BLOB_UNKNOWN and writes nothing', async () => {
        await p.blobs.putBlob(LOCAL2, { digest: dg('b'), size: 3, origin: 'push' }, 1);
        const refs = [{ child: dg('b'), kind: 'layer' as const }];
        const err = await p.manifests.putManifest(LOCAL, manifestRow(dg('1')), refs, 1, { tag: 'v1', requireRefs: true })
          .then(() => undefined, (e: unknown) => e);
        expect(isOciError(err) && err.code).toBe('MANIFEST_BLOB_UNKNOWN');
        expect(await p.manifests.getManifest(dg('1'))).toBeUndefined();
        expect(await p.tags.getTag(LOCAL, 'v1')).toBeUndefined();
        const child = await p.manifests.putManifest(LOCAL, manifestRow(dg('2')), [{ child: dg('3'), kind: 'manifest' }], 1,
          { requireRefs: true }).then(() => undefined, (e: unknown) => e);
        expect(isOciError(child) && child.code).toBe('MANIFEST_BLOB_UNKNOWN');

        await p.blobs.linkBlob(LOCAL, dg('b'));
        await p.manifests.putManifest(LOCAL, manifestRow(dg('1')), [...refs, { child: dg('7'), kind: 'subject' }], 1,
          { tag: 'v1', requireRefs: true });
        expect(await p.tags.getTag(LOCAL, 'v1')).toMatchObject({ digest: dg('1') });
      });

      it('unlinkManifest removes the link and that repository\'s tags naming it, once', async () => {
        await p.manifests.putManifest(LOCAL, manifestRow(dg('1')), [], 1, { tag: 'a' });
        await p.manifests.putManifest(LOCAL2, manifestRow(dg('1')), [], 1, { tag: 'a' });
        await p.tags.putTag(LOCAL, 'b', dg('1'), 1);
        await p.tags.putTag(LOCAL, 'c', dg('2'), 1);
        expect(await p.manifests.unlinkManifest(LOCAL, dg('1'))).toBe(true);
        expect(await p.manifests.unlinkManifest(LOCAL, dg('1'))).toBe(false);
        expect(await p.manifests.hasRepoManifest(LOCAL, dg('1'))).toBe(false);
        expect(await p.tags.listTags(LOCAL, 10)).toEqual(['c']);
        expect(await p.tags.listTags(LOCAL2, 10)).toEqual(['a']);
        expect(await p.manifests.hasRepoManifest(LOCAL2, dg('1'))).toBe(true);
      });

      it('referrers lists the manifests linked to that repository naming the subject, in digest order', async () => {
        const subject = dg('0');
        await p.manifests.putManifest(LOCAL, manifestRow(dg('2'), { subject, artifactType: 'x/b', annotations: '{"n":"2"}' }), [], 1);
        await p.manifests.putManifest(LOCAL, manifestRow(dg('1'), { subject, mediaType: DOCKER_TYPE }), [], 1);
        await p.manifests.putManifest(LOCAL2, manifestRow(dg('3'), { subject }), [], 1);
        await p.manifests.putManifest(LOCAL, manifestRow(dg('4'), { subject: dg('9') }), [], 1);
        const list = await p.manifests.referrers(LOCAL, subject);
        expect(list.map((r) => r.digest)).toEqual([dg('1'), dg('2')]);
        expect(list[0]).toMatchObject({ mediaType: DOCKER_TYPE, artifactType: null, annotations: null });
        expect(list[1]).toMatchObject({ mediaType: IMAGE_TYPE, artifactType: 'x/b', annotations: '{"n":"2"}' });
        expect(list[1]!.size).toBe(manifestRow(dg('2')).size);
        expect(await p.manifests.referrers(LOCAL, dg('f'))).toEqual([]);
      });
    });

    describe('blobs', () => {
      it('a missing blob is undefined; putBlob round-trips and links it to one repository', async () => {
        expect(await p.blobs.getBlob(dg('b'))).toBeUndefined();
        await p.blobs.putBlob(MIRROR, { digest: dg('b'), size: 42, origin: 'upstream' }, 1);
        expect(await p.blobs.getBlob(dg('b'))).toEqual({ digest: dg('b'), size: 42, origin: 'upstream' });
        expect(await p.blobs.hasRepoBlob(MIRROR, dg('b'))).toBe(true);
        expect(await p.blobs.hasRepoBlob(MIRROR2, dg('b'))).toBe(false);
      });

      it('a push makes a mirrored blob pushed, never the reverse', async () => {
        await p.blobs.putBlob(MIRROR, { digest: dg('b'), size: 1, origin: 'upstream' }, 1);
        await p.blobs.putBlob(LOCAL, { digest: dg('b'), size: 1, origin: 'push' }, 2);
        await p.blobs.putBlob(MIRROR2, { digest: dg('b'), size: 1, origin: 'upstream' }, 3);
        expect((await p.blobs.getBlob(dg('b')))?.origin).toBe('push');
      });

      it('linkBlob is idempotent; unlinkBlob answers whether it was linked', async () => {
        await p.blobs.putBlob(MIRROR, { digest: dg('b'), size: 1, origin: 'upstream' }, 1);
        await p.blobs.linkBlob(MIRROR2, dg('b'));
        await p.blobs.linkBlob(MIRROR2, dg('b'));
        expect(await p.blobs.hasRepoBlob(MIRROR2, dg('b'))).toBe(true);
        expect(await p.blobs.unlinkBlob(MIRROR2, dg('b'))).toBe(true);
        expect(await p.blobs.unlinkBlob(MIRROR2, dg('b'))).toBe(false);
        expect(await p.blobs.hasRepoBlob(MIRROR, dg('b'))).toBe(true);
        expect(await p.blobs.getBlob(dg('b'))).toBeDefined();
      });

      it('deleteBlob removes the row and every link; deleting again is a no-op', async () => {
        await p.blobs.putBlob(MIRROR, { digest: dg('b'), size: 1, origin: 'upstream' }, 1);
        await p.blobs.linkBlob(LOCAL, dg('b'));
        await p.blobs.deleteBlob(dg('b'));
        await p.blobs.deleteBlob(dg('b'));
        expect(await p.blobs.getBlob(dg('b'))).toBeUndefined();
        expect(await p.blobs.hasRepoBlob(MIRROR, dg('b'))).toBe(false);
        expect(await p.blobs.hasRepoBlob(LOCAL, dg('b'))).toBe(false);
      });

      it('hasMirroredBlob answers for a mirrored repository of that upstream only', async () => {
        await p.blobs.putBlob(LOCAL, { digest: dg('b'), size: 1, origin: 'push' }, 1);
        expect(await p.blobs.hasMirroredBlob(UPSTREAM, dg('b'))).toBe(false);
        await p.blobs.linkBlob(MIRROR, dg('b'));
        expect(await p.blobs.hasMirroredBlob(UPSTREAM, dg('b'))).toBe(true);
        expect(await p.blobs.hasMirroredBlob('ghcr.io', dg('b'))).toBe(false);
      });

      it('localRepositoriesWithBlob lists local repositories only, in name order, at most limit', async () => {
        await p.blobs.putBlob(MIRROR, { digest: dg('b'), size: 1, origin: 'upstream' }, 1);
        expect(await p.blobs.localRepositoriesWithBlob(dg('b'), 10)).toEqual([]);
        await p.blobs.linkBlob(LOCAL2, dg('b'));
        await p.blobs.linkBlob(LOCAL, dg('b'));
        expect(await p.blobs.localRepositoriesWithBlob(dg('b'), 10)).toEqual([LOCAL, LOCAL2]);
        expect(await p.blobs.localRepositoriesWithBlob(dg('b'), 1)).toEqual([LOCAL]);
      });
    });

    describeMaintenanceContract(() => p);
    describeStatsContract(() => p);
    describeConsoleActionsContract(() => p);
  });
}
