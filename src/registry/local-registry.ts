import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { Reference } from '../oci/names.js';
import type { BlobSource, UploadState } from '../repository/repository.js';

export type { UploadState };

/**
 * A local namespace's registry: what the OCI push, delete and discovery endpoints do,
 * without HTTP. Errors are OciErrors (BLOB_UPLOAD_UNKNOWN, DIGEST_INVALID, ...).
 * Repository names here are the names clients use (local names are stored as they are).
 */
export interface StoredManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

export interface Page<T> {
  items: T[];
  /** The `last` value for the next page, when there is one. */
  next?: string;
}

export interface LocalRegistry {
  getManifest(repo: string, ref: Reference): Promise<StoredManifest>;
  /** Validates and stores; returns the digest and the subject (for OCI-Subject). */
  putManifest(repo: string, ref: Reference, bytes: Buffer, contentType: string | undefined): Promise<{ digest: string; subject?: string }>;
  /** By digest: unlinks it (and its tags) from the repository. By tag: removes the tag. */
  deleteManifest(repo: string, ref: Reference): Promise<void>;

  /** A blob linked to the repository, ready to send (cache status undefined). */
  getBlob(repo: string, digest: Digest): Promise<BlobSource>;
  deleteBlob(repo: string, digest: Digest): Promise<void>;

  /** Opens an upload for `owner` (the authenticated user); 429 beyond the open-upload limits. */
  startUpload(repo: string, owner?: string): Promise<UploadState>;
  /** Appends a chunk; `start` is where the client says it begins (Content-Range), checked (416). */
  appendUpload(repo: string, id: string, body: Readable, start?: number, length?: number): Promise<UploadState>;
  /** Appends the optional last chunk, verifies `digest`, makes the blob visible in repo. */
  finishUpload(repo: string, id: string, digest: Digest, body?: Readable): Promise<{ digest: string }>;
  uploadStatus(repo: string, id: string): Promise<UploadState>;
  cancelUpload(repo: string, id: string): Promise<void>;
  /** Links a blob of `from` into `repo` when it exists there; false if it does not. */
  mountBlob(repo: string, from: string, digest: Digest): Promise<boolean>;
  /** Local repositories that hold the blob (candidates for a mount without `from`); a bounded list. */
  mountSources(digest: Digest): Promise<string[]>;
  /** Removes uploads untouched for longer than the configured expiry. */
  expireUploads(): Promise<number>;

  listTags(repo: string, n: number | undefined, last: string | undefined): Promise<Page<string>>;
  catalog(n: number | undefined, last: string | undefined, visible: (name: string) => boolean): Promise<Page<string>>;
  /** The referrers image index (bytes) of manifests in repo whose subject is `digest`. */
  referrers(repo: string, digest: Digest, artifactType: string | undefined): Promise<Buffer>;
}
