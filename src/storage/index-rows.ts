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
