import type { Readable } from 'node:stream';
import type { CacheStatus } from '../admin/metrics.js';
import type { Digest } from '../oci/digest.js';
import type { Reference } from '../oci/names.js';
import type { ByteRange } from '../storage/blob-store.js';

/**
 * One repository, as the /v2/ routes see it: a local one (pushes, src/registry/) or a
 * mirrored one (pull-through from one upstream, src/proxy/). Both answer the same calls,
 * so routes never ask which it is (Distribution's `Repository`: manifests, blobs, tags).
 * Errors are OciErrors; a mirrored repository answers every write with DENIED
 * ("mirrored repositories are read-only").
 *
 * Results carry the cache status (HIT/MISS/REVALIDATED/STALE for mirrored content,
 * undefined for local content) so that routes can set X-Cache and count it.
 */
export interface Repository {
  /** The name the client used, e.g. "alpine". */
  readonly name: string;
  /** False for mirrored repositories: writes are refused (DENIED) before authorization. */
  readonly writable: boolean;

  /** A manifest by tag or digest (its bytes: manifests are small and kept in memory). */
  getManifest(ref: Reference): Promise<ManifestResult>;
  /**
   * The memo in front of getManifest: a manifest answered from memory without I/O (a fresh
   * cached tag of a mirrored repository), or undefined — then getManifest answers. Lets the
   * pipeline answer its hottest request without a router; a decorator must forward it.
   */
  cachedManifest?(ref: Reference): ManifestResult | undefined;
  /** As getManifest: a HEAD answers the same headers (and may be served from the same cache). */
  headManifest(ref: Reference): Promise<ManifestResult>;
  /** Validates and stores a pushed manifest; `actor` is the authenticated user, if any. */
  putManifest(ref: Reference, bytes: Buffer, contentType: string | undefined, actor?: string): Promise<PutManifestResult>;
  /** By digest: unlinks it (and its tags) from the repository. By tag: removes the tag. */
  deleteManifest(ref: Reference): Promise<void>;

  /** What a blob HEAD answers, without its bytes (size undefined only when unknown). */
  statBlob(digest: Digest): Promise<BlobInfo>;
  /** A blob ready to be sent (for a mirrored miss: a fill started or joined). */
  openBlob(digest: Digest): Promise<BlobSource>;
  deleteBlob(digest: Digest): Promise<void>;

  /** A page of tags; `stale` when served from cache because the upstream failed. */
  listTags(n: number | undefined, last: string | undefined): Promise<TagPage>;
  /** The referrers image index (bytes) of manifests whose subject is `digest`. */
  referrers(digest: Digest, artifactType: string | undefined): Promise<Buffer>;

  /** Blob uploads into this repository (a mirrored one refuses them: DENIED). */
  readonly uploads: RepositoryUploads;
}

export interface ManifestResult {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  /** Mirrored content only. */
  cache?: CacheStatus;
}

export interface PutManifestResult {
  digest: string;
  /** The subject's digest, for the OCI-Subject header. */
  subject?: string;
}

export interface BlobInfo {
  digest: string;
  size: number | undefined;
  /** Mirrored content only. */
  cache?: CacheStatus;
}

/** A blob ready to be sent: its size (when known) and a way to open its bytes. */
export interface BlobSource extends BlobInfo {
  open(range?: ByteRange): Promise<Readable>;
  /** The complete, verified file on local disk, when there is one (an optional fast path). */
  localPath?: string;
}

export interface TagPage {
  tags: string[];
  /** The `last` value for the next page, when there is one. */
  next?: string;
  /** Served from cache because the upstream is unavailable. */
  stale: boolean;
}

export interface UploadState {
  id: string;
  /** Bytes received so far (the next PATCH starts here). */
  offset: number;
}

export interface RepositoryUploads {
  /** Opens an upload for `owner` (the authenticated user); 429 beyond the open-upload limits. */
  start(owner?: string): Promise<UploadState>;
  /** Appends a chunk; `start` is where the client says it begins (Content-Range), checked (416). */
  append(id: string, body: Readable, start?: number, length?: number): Promise<UploadState>;
  /** Appends the optional last chunk, verifies `digest`, makes the blob visible here. */
  finish(id: string, digest: Digest, body?: Readable): Promise<{ digest: string }>;
  status(id: string): Promise<UploadState>;
  cancel(id: string): Promise<void>;
  /** Links a blob of repository `from` here when it exists there; false if it does not. */
  mount(from: string, digest: Digest): Promise<boolean>;
  /** Repositories holding the blob that a mount without `from` may try (a bounded list). */
  mountSources(digest: Digest): Promise<string[]>;
}
