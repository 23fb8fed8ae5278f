/**
 * The index: every question the app asks about what it holds, behind one interface, so
 * that SQLite (the embedded default) can later be swapped for PostgreSQL.
 * All timestamps are epoch milliseconds.
 *
 * RegistryIndex is the synchronous interface today's request paths still call; its
 * successors are the narrow async ports in ports.ts (GC and prune already use them).
 * The row types below are shared by both.
 */
export interface TagRow {
  digest: string;
  fetchedAt: number;
  checkedAt: number;
}

export interface ManifestRow {
  digest: string;
  /**
   * The media type. Stored with each repository link (putManifest), since repositories
   * may disagree about it; on the manifest row it is the first writer's.
   */
  mediaType: string;
  size: number;
  bytes: Buffer;
  subject: string | null;
  artifactType: string | null;
  /** The manifest's annotations as JSON text, for referrers answers. */
  annotations: string | null;
}

/** A manifest that names another as its subject (a referrer). */
export interface ReferrerRow {
  digest: string;
  /** As linked in the repository asked about. */
  mediaType: string;
  size: number;
  artifactType: string | null;
  annotations: string | null;
}

export interface PutManifestOptions {
  /** Also point this tag of repo at the manifest, in the same transaction. */
  tag?: string;
  /**
   * Check inside the transaction that every layer/config blob and child manifest is in
   * repo (MANIFEST_BLOB_UNKNOWN otherwise), so a concurrent gc cannot remove one between
   * a push's validation and its insert.
   */
  requireRefs?: boolean;
}

export interface ManifestRef {
  child: string;
  kind: 'layer' | 'config' | 'manifest' | 'subject';
}

export interface BlobRow {
  digest: string;
  size: number;
  origin: 'upstream' | 'push';
}

/** A mirrored blob as prune lists it; lastAccess lets the delete notice a newer access. */
export interface EvictableBlob {
  digest: string;
  size: number;
  lastAccess: number;
  hits: number;
}

/** What GC removed from the index (or, in a dry run, would remove). */
export interface GarbageRows {
  /** Manifests nothing uses, removed with their references and any tag still naming them. */
  manifests: string[];
  /** Pushed blobs nothing uses; their files are the caller's to delete. */
  blobs: BlobRow[];
}

export interface IndexStats {
  blobs: number;
  blobBytes: number;
  manifests: number;
  tags: number;
  repositories: number;
}

export interface RegistryIndex {
  getTag(repo: string, tag: string): TagRow | undefined;
  /** Points repo:tag at digest, marking it fetched and checked now. */
  putTag(repo: string, tag: string, digest: string, now: number): void;
  /** The upstream confirmed the tag still points at the same digest. */
  markTagChecked(repo: string, tag: string, now: number): void;
  deleteTag(repo: string, tag: string): void;
  /** Tags of a repository in lexical order, after `last`, at most `n`. */
  listTags(repo: string, n: number, last?: string): string[];

  getManifest(digest: string): ManifestRow | undefined;
  hasRepoManifest(repo: string, digest: string): boolean;
  /** The media type repo serves the manifest with; undefined when repo does not have it. */
  repoManifestType(repo: string, digest: string): string | undefined;
  /**
   * The media type of the manifest in some mirrored repository of `upstream` (so its bytes
   * were fetched from that upstream and verified); undefined when no such link exists.
   */
  mirroredManifestType(upstream: string, digest: string): string | undefined;
  /**
   * Stores the manifest (once), links it to repo with `manifest.mediaType` (replacing the
   * link's previous type), records its references.
   */
  putManifest(repo: string, manifest: ManifestRow, refs: ManifestRef[], now: number, options?: PutManifestOptions): void;

  /** Removes the manifest from repo, with every tag of repo that points at it. */
  unlinkManifest(repo: string, digest: string): boolean;
  /** Manifests linked to repo whose subject is `subject`. */
  referrers(repo: string, subject: string): ReferrerRow[];

  getBlob(digest: string): BlobRow | undefined;
  hasRepoBlob(repo: string, digest: string): boolean;
  /**
   * True when a mirrored repository of `upstream` is linked to the blob, i.e. its bytes were
   * fetched from that upstream and verified (pushed bytes never are linked there unfetched).
   */
  hasMirroredBlob(upstream: string, digest: string): boolean;
  /** Local repositories (kind 'local') linked to the blob, in name order, at most `limit`. */
  localRepositoriesWithBlob(digest: string, limit: number): string[];
  /** Records a verified blob that is already at its final path, and links it to repo. */
  putBlob(repo: string, blob: BlobRow, now: number): void;
  linkBlob(repo: string, digest: string): void;
  unlinkBlob(repo: string, digest: string): boolean;
  deleteBlob(digest: string): void;

  /**
   * Prune's candidates: mirrored blobs (origin upstream) linked to no local repository, in
   * eviction order — least recently accessed first, then fewest hits, then digest — strictly
   * after `after` in that order, at most `limit`. Pushed content is never listed.
   */
  listEvictableBlobs(limit: number, after?: EvictableBlob): EvictableBlob[];
  /**
   * Deletes the rows (blob and repository links) of listed evictable blobs in one
   * transaction, skipping any that was accessed after it was listed, became pushed, or was
   * linked into a local repository meanwhile. Returns the digests whose rows were deleted;
   * the caller deletes their files afterwards (a row never outlives its file).
   */
  deleteEvictableBlobs(blobs: readonly EvictableBlob[]): string[];
  /**
   * GC's index half, in one write transaction. Live manifests are those linked to a
   * repository and, transitively, the children of live indexes. Removes every other
   * manifest (with its references), and the rows of pushed blobs (origin push) that no live
   * manifest references as config or layer and that were neither created nor accessed at or
   * after `before`. With dryRun, reports the same and changes nothing. Mirrored blobs are
   * never collected: they are a cache, governed by prune.
   */
  collectGarbage(before: number, dryRun: boolean): GarbageRows;

  ensureRepository(name: string, kind: 'mirror' | 'local', upstream: string | null, now: number): void;
  hasRepository(name: string): boolean;
  /** Repository names of one kind in lexical order, after `last`, at most `n`. */
  listRepositories(kind: 'mirror' | 'local', n: number, last?: string): string[];

  /** Notes an access; written in batches by flush(), not per request. */
  touchBlob(digest: string, now: number): void;
  touchManifest(digest: string, now: number): void;
  flush(): void;

  stats(): IndexStats;
  close(): void;
}
