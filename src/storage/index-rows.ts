/**
 * The rows the index holds, as the storage ports (ports.ts) take and answer them, whatever
 * the backend. All timestamps are epoch milliseconds.
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

/** What evictImage removed: the manifests unlinked from the repository, and the blob rows deleted (their files are the caller's). */
export interface EvictedImage {
  manifests: string[];
  blobs: Array<{ digest: string; size: number }>;
}

/** What the index holds of one upstream (issue 10): its mirrored repositories and the blobs they link. */
export interface UpstreamIndexStats {
  upstream: string;
  repositories: number;
  /** Repository-blob links: a blob shared by two repositories counts twice. */
  blobLinks: number;
  /** Distinct blobs linked, and their bytes (a blob shared with another upstream counts for both). */
  blobs: number;
  blobBytes: number;
}

export interface IndexStats {
  blobs: number;
  blobBytes: number;
  manifests: number;
  tags: number;
  repositories: number;
}

/** Counters added to one hourly bucket by a stats flush (issue 11). */
export interface StatsDelta {
  /** Epoch ms of the hour's start. */
  hour: number;
  /** Counter name to the amount to add; zero amounts may be left out. */
  counters: Readonly<Record<string, number>>;
  /** Manifest pulls per repository since the last flush, and when the latest was. */
  repoPulls: ReadonlyArray<{ repo: string; pulls: number; at: number }>;
}

/** One repository in a top list: its distinct blob bytes and its manifest pulls. */
export interface RepoUsage {
  repo: string;
  bytes: number;
  pulls: number;
}

/** What the cache holds, as the index knows it (issue 11 stats; a scan, admin only). */
export interface CacheContents {
  /** Blob bytes by origin: mirrored (fetched from an upstream) and pushed. */
  bytesByOrigin: { mirrored: number; pushed: number };
  /** Manifest bytes (stored in the index itself). */
  manifestBytes: number;
  /** Epoch ms of the least recent access of any blob or manifest; null when the cache is empty. */
  oldestAccess: number | null;
  topByBytes: RepoUsage[];
  topByPulls: RepoUsage[];
}
