import type {
  BlobRow, EvictableBlob, EvictedImage, IndexStats, UpstreamIndexStats, ManifestRef, ManifestRow, PutManifestOptions, ReferrerRow, TagRow,
  CacheContents, StatsDelta,
} from './index-rows.js';
import type { RepositoryQuery, RepositorySummary, TagDetail, UntaggedManifest } from './browse-rows.js';
import type { UploadSessionIndex } from './upload-rows.js';

/**
 * The index as narrow, asynchronous ports: each caller depends on the few questions it
 * asks, and every answer is a Promise, so that a network database (PostgreSQL) can sit
 * behind the same interfaces as the embedded SQLite file. The row types are those of
 * index-rows.ts. Timestamps are epoch milliseconds.
 *
 * Every backend runs the contract suite in test/contracts/index-contract.ts.
 *
 * Deletes that race with writers (prune's eviction, GC's collection) are conditional: the
 * caller lists candidates, decides (src/admin holds that policy), and the port deletes
 * only those still eligible, inside one transaction, returning what it deleted.
 */

/** Tags of repositories. */
export interface TagIndex {
  getTag(repo: string, tag: string): Promise<TagRow | undefined>;
  /** Points repo:tag at digest, marking it fetched and checked now. */
  putTag(repo: string, tag: string, digest: string, now: number): Promise<void>;
  /** The upstream confirmed the tag still points at the same digest; no-op when absent. */
  markTagChecked(repo: string, tag: string, now: number): Promise<void>;
  /** No-op when absent. */
  deleteTag(repo: string, tag: string): Promise<void>;
  /** Tags of a repository in lexical (byte) order, strictly after `last`, at most `n`. */
  listTags(repo: string, n: number, last?: string): Promise<string[]>;
  /**
   * Issue 13: tells `listener` of tag changes other replicas (or this one) committed to a
   * shared index, so memoized tags are dropped. Absent for SQLite: one process, no one else writes.
   */
  onTagChanged?(listener: (change: TagChange) => void): void;
}

/**
 * A tag changed (`tag` absent: any tag of `repo`), or `all`: changes may have been missed,
 * with `listening` false while changes cannot be heard (a lost connection), true once they can again.
 */
export type TagChange = { repo: string; tag?: string; all?: undefined } | { all: true; listening: boolean; repo?: undefined; tag?: undefined };

/** Manifests, their links into repositories (each with its media type) and their references. */
export interface ManifestIndex {
  getManifest(digest: string): Promise<ManifestRow | undefined>;
  hasRepoManifest(repo: string, digest: string): Promise<boolean>;
  /** The media type repo serves the manifest with; undefined when repo does not have it. */
  repoManifestType(repo: string, digest: string): Promise<string | undefined>;
  /** The media type in some mirrored repository of `upstream`; undefined when none has it. */
  mirroredManifestType(upstream: string, digest: string): Promise<string | undefined>;
  /**
   * Stores the manifest (once), links it to repo with `manifest.mediaType` (replacing the
   * link's previous type), records its references, and (options.tag) moves the tag, all
   * at once. With options.requireRefs, rejects with MANIFEST_BLOB_UNKNOWN (and changes
   * nothing) when a referenced blob or child manifest is not in repo.
   */
  putManifest(repo: string, manifest: ManifestRow, refs: ManifestRef[], now: number, options?: PutManifestOptions): Promise<void>;
  /** Removes the manifest from repo, with every tag of repo naming it; false when it was not linked. */
  unlinkManifest(repo: string, digest: string): Promise<boolean>;
  /** Manifests linked to repo whose subject is `subject`, in digest order. */
  referrers(repo: string, subject: string): Promise<ReferrerRow[]>;
}

/** Blob rows and their links into repositories. */
export interface BlobIndex {
  getBlob(digest: string): Promise<BlobRow | undefined>;
  hasRepoBlob(repo: string, digest: string): Promise<boolean>;
  /** True when a mirrored repository of `upstream` is linked to the blob (its bytes were fetched from there). */
  hasMirroredBlob(upstream: string, digest: string): Promise<boolean>;
  /** Local repositories linked to the blob, in name order, at most `limit`. */
  localRepositoriesWithBlob(digest: string, limit: number): Promise<string[]>;
  /**
   * Records a verified blob already in the store, and links it to repo. Writing it again
   * counts as an access; a push makes a mirrored blob pushed (never the reverse).
   */
  putBlob(repo: string, blob: BlobRow, now: number): Promise<void>;
  /** Idempotent. */
  linkBlob(repo: string, digest: string): Promise<void>;
  /** False when it was not linked. */
  unlinkBlob(repo: string, digest: string): Promise<boolean>;
  /** Removes the row and every link; no-op when absent. */
  deleteBlob(digest: string): Promise<void>;
}

/** Repositories, mirrored (of an upstream) or local (pushed to). */
export interface RepositoryIndex {
  /** Idempotent: an existing repository keeps its kind and upstream. */
  ensureRepository(name: string, kind: 'mirror' | 'local', upstream: string | null, now: number): Promise<void>;
  hasRepository(name: string): Promise<boolean>;
  /** Names of one kind in lexical order, strictly after `last`, at most `n`. */
  listRepositories(kind: 'mirror' | 'local', n: number, last?: string): Promise<string[]>;
}

/** Accesses noted since the last write, one entry per digest. */
export interface AccessBatch {
  /** Latest access time and number of accesses per blob. */
  blobs: ReadonlyArray<{ digest: string; at: number; hits: number }>;
  /** Latest access time per manifest. */
  manifests: ReadonlyArray<{ digest: string; at: number }>;
}

/** Where access bookkeeping is written (batched above the port by access-batcher.ts). */
export interface AccessLog {
  /**
   * Raises each row's last access to at least `at` (never lowers it) and adds the blobs'
   * hits. Digests without a row are ignored.
   */
  recordAccess(batch: AccessBatch): Promise<void>;
}

/**
 * The queries GC and prune run. Which candidates to take, when to stop and what never to
 * touch is decided in src/admin (gc.ts, prune.ts); these only list and delete.
 */
export interface MaintenanceIndex {
  stats(): Promise<IndexStats>;
  /** Per upstream, in name order: which of its repositories reference which blobs, counted (issue 10). */
  upstreamStats(): Promise<UpstreamIndexStats[]>;
  /**
   * Mirrored blobs (origin upstream) linked to no local repository, in eviction order —
   * least recently accessed, then fewest hits, then digest — strictly after `after`, at
   * most `limit`. Pushed blobs are never listed.
   */
  listEvictableBlobs(limit: number, after?: EvictableBlob): Promise<EvictableBlob[]>;
  /**
   * Deletes the rows (blob and links) of listed evictable blobs, skipping any accessed
   * since it was listed (lastAccess or hits grew), pushed or linked locally meanwhile.
   * Returns the digests deleted; their files are the caller's to delete afterwards.
   */
  deleteEvictableBlobs(blobs: readonly EvictableBlob[]): Promise<string[]>;
  /**
   * Manifests in use by nothing, in digest order: linked to no repository and not a child
   * (transitively) of a linked index. A subject edge keeps nothing alive.
   */
  listUnusedManifests(): Promise<string[]>;
  /**
   * Pushed blobs (origin push) that no manifest in use references as config or layer, and
   * that were neither created nor accessed at or after `before`, in digest order.
   */
  listUnusedPushedBlobs(before: number): Promise<BlobRow[]>;
  /**
   * Deletes those of `digests` still unused (with their references and any tag naming
   * them), at once. Returns the digests deleted.
   */
  deleteUnusedManifests(digests: readonly string[]): Promise<string[]>;
  /**
   * Deletes the rows (and links) of those of `digests` that are still unused pushed blobs
   * older than `before`, at once. Returns the digests deleted.
   */
  deleteUnusedPushedBlobs(digests: readonly string[], before: number): Promise<string[]>;
  /**
   * Issue 13: takes or renews the lease `name` for `holder` until now + ttlMs; true when
   * `holder` holds it now (it was free, expired, or already its own), false when another
   * holder's lease has not expired. Lets one replica of several run a background job.
   */
  tryLease(name: string, holder: string, ttlMs: number, now: number): Promise<boolean>;
  /** Gives the lease back if `holder` still holds it (another replica may take it at once). */
  releaseLease(name: string, holder: string): Promise<void>;
  /** Every blob row (gc --check, issue 11), in digest order, strictly after `after`, at most `limit`. */
  listBlobs(limit: number, after?: string): Promise<BlobRow[]>;
  /** Issue 11: adds a flush's counters to its hourly bucket and its pulls per repository, at once. */
  addStats(delta: StatsDelta): Promise<void>;
  /** Sums of the persisted counters over the hourly buckets starting at or after `since` (all of them without). */
  sumStats(since?: number): Promise<Record<string, number>>;
  /**
   * Issue 12: the persisted counters per hourly bucket starting at or after `since` (the
   * console's day and week charts), oldest first; only hours with counters are listed.
   */
  statsSeries(since: number): Promise<Array<{ hour: number; counters: Record<string, number> }>>;
  /** Bytes by origin, oldest access and the top `top` repositories by bytes and by pulls. */
  cacheContents(top: number): Promise<CacheContents>;
  /**
   * Evicts one cached image from a mirrored repository at once (issue 11): the manifest
   * `digest` and, for an index, its platform manifests no other index in use names, with
   * their tags in `repo`; the manifest rows then unused; and the rows of mirrored blobs
   * they referenced that no other repository links and no manifest in use references.
   * Undefined when `repo` does not have the manifest. Files are the caller's to delete.
   */
  evictImage(repo: string, digest: string): Promise<EvictedImage | undefined>;
  /** Repositories (local and mirrored) linked to the blob, in name order: prune's dry-run listing. */
  blobRepositories(digest: string): Promise<string[]>;
  /**
   * Issue 12 (the console's confirmation page): what evictImage(repo, digest) would remove
   * right now, removing nothing. Undefined when `repo` does not have the manifest.
   */
  previewEvictImage(repo: string, digest: string): Promise<EvictedImage | undefined>;
  /**
   * Issue 12 (the console's delete confirmations): the tags of `repo` naming the manifest,
   * in tag order, at most `limit`. Undefined when `repo` does not link the manifest.
   */
  manifestTags(repo: string, digest: string, limit: number): Promise<string[] | undefined>;
}

/**
 * What the web console browses (issue 12): repositories with their sizes and pulls, tags
 * with their manifests, manifests without a tag. Every list is keyset-paged with a limit;
 * callers decide visibility (access rules are patterns, so they filter above the port).
 */
export interface BrowseIndex {
  /** Repositories in name order matching the query, strictly after `after`, at most `limit`. */
  listRepositories(query: RepositoryQuery): Promise<RepositorySummary[]>;
  /** One repository's summary; undefined when the index has no such repository. */
  getRepository(name: string): Promise<RepositorySummary | undefined>;
  /** Tags of repo in byte order, strictly after `after`, at most `limit`, with their manifests' rows. */
  listTagDetails(repo: string, after: string | undefined, limit: number): Promise<TagDetail[]>;
  /**
   * Manifests linked to repo that no tag of repo names and that are no platform manifest of
   * an index linked to repo, in digest order, strictly after `after`, at most `limit`.
   */
  listUntaggedManifests(repo: string, after: string | undefined, limit: number): Promise<UntaggedManifest[]>;
  /** Those of `digests` linked to repo, with their rows (media type as linked in repo), in digest order. */
  repoManifests(repo: string, digests: readonly string[]): Promise<ManifestRow[]>;
}

/** Every port of one index backend, over one connection (or pool). */
export interface StoragePorts {
  tags: TagIndex;
  manifests: ManifestIndex;
  blobs: BlobIndex;
  repositories: RepositoryIndex;
  access: AccessLog;
  maintenance: MaintenanceIndex;
  /** Issue 12: the web console's listings. */
  browse: BrowseIndex;
  /**
   * Issue 13: upload sessions in the index, so a push can move between replicas (with a
   * shared blob store). Absent for SQLite: uploads stay in the process (registry/uploads.ts).
   */
  uploads?: UploadSessionIndex;
}
