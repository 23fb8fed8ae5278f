import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoragePorts } from '../../src/storage/ports.js';
import type { IndexBackend, IndexBackendFactory } from './index-contract.js';
import { dg, DOCKER_TYPE, IMAGE_TYPE, INDEX_TYPE, LOCAL, LOCAL2, manifestRow, MIRROR, MIRROR2, seedRepositories, UPSTREAM } from './index-fixtures.js';

/**
 * The console's browsing port (ports.ts BrowseIndex, issue 12): what every backend answers
 * for repository listings, tag details, untagged manifests and a repository's manifests.
 */
export function describeBrowseContract(name: string, factory: IndexBackendFactory): void {
  describe(`browse contract: ${name}`, () => {
    let backend: IndexBackend;
    let p: StoragePorts;
    beforeEach(async () => {
      backend = await factory();
      p = backend.ports;
      await seedRepositories(p);
    });
    afterEach(() => backend.cleanup());

    describe('listRepositories', () => {
      it('lists every repository in name order with kind, upstream and creation time; pages by name', async () => {
        const all = await p.browse.listRepositories({ limit: 10 });
        expect(all.map((r) => r.name)).toEqual([MIRROR, MIRROR2, LOCAL, LOCAL2].sort());
        expect(all.find((r) => r.name === MIRROR)).toMatchObject({ kind: 'mirror', upstream: UPSTREAM, createdAt: 1 });
        expect(all.find((r) => r.name === LOCAL)).toMatchObject({ kind: 'local', upstream: null });
        const first = await p.browse.listRepositories({ limit: 2 });
        const rest = await p.browse.listRepositories({ limit: 10, after: first[1]!.name });
        expect([...first, ...rest].map((r) => r.name)).toEqual(all.map((r) => r.name));
      });

      it('filters by kind and upstream', async () => {
        await p.repositories.ensureRepository('ghcr.io/owner/app', 'mirror', 'ghcr.io', 5);
        expect((await p.browse.listRepositories({ kind: 'local', limit: 10 })).map((r) => r.name)).toEqual([LOCAL, LOCAL2]);
        expect((await p.browse.listRepositories({ kind: 'mirror', upstream: UPSTREAM, limit: 10 })).map((r) => r.name)).toEqual([MIRROR, MIRROR2]);
        expect((await p.browse.listRepositories({ upstream: 'ghcr.io', limit: 10 })).map((r) => r.name)).toEqual(['ghcr.io/owner/app']);
        expect(await p.browse.listRepositories({ upstream: 'quay.io', limit: 10 })).toEqual([]);
      });

      it('searches a literal substring: % and _ are no wildcards', async () => {
        await p.repositories.ensureRepository('team/a_b', 'local', null, 1);
        await p.repositories.ensureRepository('team/axb', 'local', null, 1);
        expect((await p.browse.listRepositories({ search: 'alp', limit: 10 })).map((r) => r.name)).toEqual([MIRROR]);
        expect((await p.browse.listRepositories({ search: 'a_b', limit: 10 })).map((r) => r.name)).toEqual(['team/a_b']);
        expect(await p.browse.listRepositories({ search: '%', limit: 10 })).toEqual([]);
        expect(await p.browse.listRepositories({ search: '\\', limit: 10 })).toEqual([]);
        expect((await p.browse.listRepositories({ search: 'team/', after: 'team/a_b', limit: 10 })).map((r) => r.name)).toEqual([LOCAL, 'team/axb', LOCAL2]);
      });

      it('sums distinct blob bytes, counts tags and reports pulls', async () => {
        await p.blobs.putBlob(MIRROR, { digest: dg('1'), size: 100, origin: 'upstream' }, 1);
        await p.blobs.putBlob(MIRROR, { digest: dg('2'), size: 20, origin: 'upstream' }, 1);
        await p.blobs.putBlob(MIRROR2, { digest: dg('1'), size: 100, origin: 'upstream' }, 1);
        await p.manifests.putManifest(MIRROR, manifestRow(dg('a')), [], 1, { tag: 'x' });
        await p.tags.putTag(MIRROR, 'y', dg('a'), 1);
        await p.maintenance.addStats({ hour: 0, counters: {}, repoPulls: [{ repo: MIRROR, pulls: 3, at: 777 }] });
        const rows = await p.browse.listRepositories({ kind: 'mirror', limit: 10 });
        expect(rows[0]).toEqual({ name: MIRROR, kind: 'mirror', upstream: UPSTREAM, bytes: 120, tags: 2, lastPull: 777, pulls: 3, createdAt: 1 });
        expect(rows[1]).toMatchObject({ name: MIRROR2, bytes: 100, tags: 0, lastPull: null, pulls: 0 });
        expect(await p.browse.getRepository(MIRROR)).toEqual(rows[0]);
      });

      it('getRepository is undefined for an unknown name', async () => {
        expect(await p.browse.getRepository('nope/none')).toBeUndefined();
      });
    });

    describe('tags and manifests', () => {
      it('lists tag details in tag order, paged, with the media type as linked in the repository', async () => {
        const m = manifestRow(dg('a'), { mediaType: IMAGE_TYPE });
        await p.manifests.putManifest(LOCAL, m, [], 10, { tag: 'v1' });
        await p.manifests.putManifest(LOCAL2, { ...m, mediaType: DOCKER_TYPE }, [], 11, { tag: 'other' });
        await p.tags.putTag(LOCAL, 'v2', dg('a'), 20);
        await p.tags.markTagChecked(LOCAL, 'v2', 30);
        await p.access.recordAccess({ blobs: [], manifests: [{ digest: dg('a'), at: 50 }] });
        const tags = await p.browse.listTagDetails(LOCAL, undefined, 10);
        expect(tags).toEqual([
          { tag: 'v1', digest: dg('a'), mediaType: IMAGE_TYPE, size: m.size, fetchedAt: 10, checkedAt: 10, lastAccess: 50 },
          { tag: 'v2', digest: dg('a'), mediaType: IMAGE_TYPE, size: m.size, fetchedAt: 20, checkedAt: 30, lastAccess: 50 },
        ]);
        expect((await p.browse.listTagDetails(LOCAL, 'v1', 10)).map((t) => t.tag)).toEqual(['v2']);
        expect((await p.browse.listTagDetails(LOCAL, undefined, 1)).map((t) => t.tag)).toEqual(['v1']);
        expect((await p.browse.listTagDetails(LOCAL2, undefined, 10))[0]!.mediaType).toBe(DOCKER_TYPE);
      });

      it('lists untagged manifests, leaving out tagged ones and platform manifests of an index in the repository', async () => {
        await p.manifests.putManifest(LOCAL, manifestRow(dg('1')), [], 1);
        await p.manifests.putManifest(LOCAL, manifestRow(dg('2')), [], 1);
        await p.manifests.putManifest(LOCAL, manifestRow(dg('3'), { mediaType: INDEX_TYPE }), [{ child: dg('1'), kind: 'manifest' }], 1, { tag: 'multi' });
        await p.manifests.putManifest(LOCAL, manifestRow(dg('4'), { subject: dg('2'), artifactType: 'application/x-sig' }), [{ child: dg('2'), kind: 'subject' }], 1);
        await p.manifests.putManifest(LOCAL, manifestRow(dg('5')), [], 1);
        // The same index in another repository makes nothing of LOCAL a platform manifest.
        await p.manifests.putManifest(LOCAL2, manifestRow(dg('6'), { mediaType: INDEX_TYPE }), [{ child: dg('5'), kind: 'manifest' }], 1);
        const rows = await p.browse.listUntaggedManifests(LOCAL, undefined, 10);
        expect(rows.map((r) => r.digest)).toEqual([dg('2'), dg('4'), dg('5')]);
        expect(rows[1]).toMatchObject({ subject: dg('2'), artifactType: 'application/x-sig', mediaType: IMAGE_TYPE });
        expect((await p.browse.listUntaggedManifests(LOCAL, dg('2'), 1)).map((r) => r.digest)).toEqual([dg('4')]);
        expect(await p.browse.listUntaggedManifests(MIRROR, undefined, 10)).toEqual([]);
      });

      it('repoManifests answers only manifests linked to that repository, in digest order, each once', async () => {
        await p.manifests.putManifest(LOCAL, manifestRow(dg('b')), [], 1);
        await p.manifests.putManifest(LOCAL, manifestRow(dg('a'), { mediaType: DOCKER_TYPE }), [], 1);
        await p.manifests.putManifest(LOCAL2, manifestRow(dg('c')), [], 1);
        const rows = await p.browse.repoManifests(LOCAL, [dg('c'), dg('b'), dg('a'), dg('b'), dg('f')]);
        expect(rows.map((r) => r.digest)).toEqual([dg('a'), dg('b')]);
        expect(rows[0]).toMatchObject({ mediaType: DOCKER_TYPE, bytes: manifestRow(dg('a')).bytes });
        expect(await p.browse.repoManifests(LOCAL, [])).toEqual([]);
      });
    });
  });
}
