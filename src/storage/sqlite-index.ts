import { AccessBatcher } from './access-batcher.js';
import type { StoragePorts } from './ports.js';
import type { RegistryIndex } from './registry-index.js';
import { openSqliteOps, type SqliteOps } from './sqlite-ops.js';

/**
 * The SQLite index (one file, better-sqlite3) seen two ways over one connection:
 * - `index`: the synchronous RegistryIndex today's request paths call;
 * - `ports`: the narrow async ports (ports.ts) every backend implements, which GC and
 *   prune use, and which the request paths move to next.
 * Access bookkeeping is batched above both by one AccessBatcher; `index.flush()` and
 * `batcher.flush()` write the same batch.
 */
export interface SqliteStorage {
  index: RegistryIndex;
  ports: StoragePorts;
  batcher: AccessBatcher;
  /** Writes the pending access batch and closes the file. */
  close(): void;
}

/** Opens (and migrates) the index file. */
export function openSqliteStorage(file: string): SqliteStorage {
  const ops = openSqliteOps(file);
  const ports = sqlitePorts(ops);
  const batcher = new AccessBatcher(ports.access);
  const flush = () => {
    if (!batcher.empty) ops.recordAccess(batcher.take());
  };
  const close = () => {
    flush();
    ops.close();
  };
  const index: RegistryIndex = {
    getTag: (repo, tag) => ops.getTag(repo, tag),
    putTag: (repo, tag, digest, now) => ops.putTag(repo, tag, digest, now),
    markTagChecked: (repo, tag, now) => ops.markTagChecked(repo, tag, now),
    deleteTag: (repo, tag) => ops.deleteTag(repo, tag),
    listTags: (repo, n, last) => ops.listTags(repo, n, last),
    getManifest: (digest) => ops.getManifest(digest),
    hasRepoManifest: (repo, digest) => ops.hasRepoManifest(repo, digest),
    repoManifestType: (repo, digest) => ops.repoManifestType(repo, digest),
    mirroredManifestType: (upstream, digest) => ops.mirroredManifestType(upstream, digest),
    putManifest: (repo, m, refs, now, options) => ops.putManifest(repo, m, refs, now, options),
    unlinkManifest: (repo, digest) => ops.unlinkManifest(repo, digest),
    referrers: (repo, subject) => ops.referrers(repo, subject),
    getBlob: (digest) => ops.getBlob(digest),
    hasRepoBlob: (repo, digest) => ops.hasRepoBlob(repo, digest),
    hasMirroredBlob: (upstream, digest) => ops.hasMirroredBlob(upstream, digest),
    localRepositoriesWithBlob: (digest, limit) => ops.localRepositoriesWithBlob(digest, limit),
    putBlob: (repo, b, now) => ops.putBlob(repo, b, now),
    linkBlob: (repo, digest) => ops.linkBlob(repo, digest),
    unlinkBlob: (repo, digest) => ops.unlinkBlob(repo, digest),
    deleteBlob: (digest) => ops.deleteBlob(digest),
    listEvictableBlobs: (limit, after) => ops.listEvictableBlobs(limit, after),
    deleteEvictableBlobs: (blobs) => ops.deleteEvictableBlobs(blobs),
    collectGarbage: (before, dryRun) => ops.collectGarbage(before, dryRun),
    ensureRepository: (name, kind, upstream, now) => ops.ensureRepository(name, kind, upstream, now),
    hasRepository: (name) => ops.hasRepository(name),
    listRepositories: (kind, n, last) => ops.listRepositories(kind, n, last),
    touchBlob: (digest, now) => batcher.touchBlob(digest, now),
    touchManifest: (digest, now) => batcher.touchManifest(digest, now),
    flush,
    stats: () => ops.stats(),
    close,
  };
  return { index, ports, batcher, close };
}

/**
 * The synchronous index of today's callers (see openSqliteStorage). Access bookkeeping is
 * kept in memory and written by flush(), which the caller runs every few seconds and at
 * shutdown (close() flushes too).
 */
export function openSqliteIndex(file: string): RegistryIndex {
  return openSqliteStorage(file).index;
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
      listEvictableBlobs: async (limit, after) => ops.listEvictableBlobs(limit, after),
      deleteEvictableBlobs: async (blobs) => ops.deleteEvictableBlobs(blobs),
      listUnusedManifests: async () => ops.listUnusedManifests(),
      listUnusedPushedBlobs: async (before) => ops.listUnusedPushedBlobs(before),
      deleteUnusedManifests: async (digests) => ops.deleteUnusedManifests(digests),
      deleteUnusedPushedBlobs: async (digests, before) => ops.deleteUnusedPushedBlobs(digests, before),
    },
  };
}
