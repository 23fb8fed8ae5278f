import type { StoragePorts } from './ports.js';
import { openSqliteOps, type SqliteOps } from './sqlite-ops.js';

/**
 * The SQLite index (one file, better-sqlite3) as the async storage ports (ports.ts) every
 * backend implements. Access bookkeeping is batched above the ports (access-batcher.ts,
 * owned by the core), so close() does not flush it: the core flushes before it closes.
 */
export interface SqliteStorage {
  ports: StoragePorts;
  close(): void;
}

/** Opens (and migrates) the index file. */
export function openSqliteStorage(file: string): SqliteStorage {
  const ops = openSqliteOps(file);
  return { ports: sqlitePorts(ops), close: () => ops.close() };
}

/**
 * The async ports over the synchronous operations. A thrown error (an OciError from
 * putManifest's requireRefs, a SQLite error) becomes a rejection, as it would be from a
 * network database.
 */
function sqlitePorts(ops: SqliteOps): StoragePorts {
  return {
    tags: {
      getTag: async (repo, tag) => ops.getTag(repo, tag),
      putTag: async (repo, tag, digest, now) => ops.putTag(repo, tag, digest, now),
      markTagChecked: async (repo, tag, now) => ops.markTagChecked(repo, tag, now),
      deleteTag: async (repo, tag) => ops.deleteTag(repo, tag),
      listTags: async (repo, n, last) => ops.listTags(repo, n, last),
    },
    manifests: {
      getManifest: async (digest) => ops.getManifest(digest),
      hasRepoManifest: async (repo, digest) => ops.hasRepoManifest(repo, digest),
      repoManifestType: async (repo, digest) => ops.repoManifestType(repo, digest),
      mirroredManifestType: async (upstream, digest) => ops.mirroredManifestType(upstream, digest),
      putManifest: async (repo, m, refs, now, options) => ops.putManifest(repo, m, refs, now, options),
      unlinkManifest: async (repo, digest) => ops.unlinkManifest(repo, digest),
      referrers: async (repo, subject) => ops.referrers(repo, subject),
    },
    blobs: {
      getBlob: async (digest) => ops.getBlob(digest),
      hasRepoBlob: async (repo, digest) => ops.hasRepoBlob(repo, digest),
      hasMirroredBlob: async (upstream, digest) => ops.hasMirroredBlob(upstream, digest),
      localRepositoriesWithBlob: async (digest, limit) => ops.localRepositoriesWithBlob(digest, limit),
      putBlob: async (repo, b, now) => ops.putBlob(repo, b, now),
      linkBlob: async (repo, digest) => ops.linkBlob(repo, digest),
      unlinkBlob: async (repo, digest) => ops.unlinkBlob(repo, digest),
      deleteBlob: async (digest) => ops.deleteBlob(digest),
    },
    repositories: {
      ensureRepository: async (name, kind, upstream, now) => ops.ensureRepository(name, kind, upstream, now),
      hasRepository: async (name) => ops.hasRepository(name),
      listRepositories: async (kind, n, last) => ops.listRepositories(kind, n, last),
    },
    access: { recordAccess: async (batch) => ops.recordAccess(batch) },
    maintenance: {
      stats: async () => ops.stats(),
      upstreamStats: async () => ops.upstreamStats(),
      listEvictableBlobs: async (limit, after) => ops.listEvictableBlobs(limit, after),
      deleteEvictableBlobs: async (blobs) => ops.deleteEvictableBlobs(blobs),
      listUnusedManifests: async () => ops.listUnusedManifests(),
      listUnusedPushedBlobs: async (before) => ops.listUnusedPushedBlobs(before),
      deleteUnusedManifests: async (digests) => ops.deleteUnusedManifests(digests),
      deleteUnusedPushedBlobs: async (digests, before) => ops.deleteUnusedPushedBlobs(digests, before),
      listBlobs: async (limit, after) => ops.listBlobs(limit, after),
      addStats: async (delta) => ops.addStats(delta),
      sumStats: async (since) => ops.sumStats(since),
      statsSeries: async (since) => ops.statsSeries(since),
      cacheContents: async (top) => ops.cacheContents(top),
      evictImage: async (repo, digest) => ops.evictImage(repo, digest),
      blobRepositories: async (digest) => ops.blobRepositories(digest),
      previewEvictImage: async (repo, digest) => ops.previewEvictImage(repo, digest),
      manifestTags: async (repo, digest, limit) => ops.manifestTags(repo, digest, limit),
      // The data-dir lock already makes this process the only one on the index: always granted.
      tryLease: async () => true,
      releaseLease: async () => {},
    },
    browse: {
      listRepositories: async (query) => ops.browse.listRepositories(query),
      getRepository: async (name) => ops.browse.getRepository(name),
      listTagDetails: async (repo, after, limit) => ops.browse.listTagDetails(repo, after, limit),
      listUntaggedManifests: async (repo, after, limit) => ops.browse.listUntaggedManifests(repo, after, limit),
      repoManifests: async (repo, digests) => ops.browse.repoManifests(repo, digests),
    },
  };
}
