import type { Digest } from '../oci/digest.js';
import type { Reference } from '../oci/names.js';
import type {
  BlobInfo, BlobSource, ManifestResult, PutManifestResult, Repository, RepositoryUploads, TagPage, UploadState,
} from '../repository/repository.js';
import type { Readable } from 'node:stream';
import type { LocalRegistry } from './local-registry.js';

/**
 * A repository in a local namespace: the Repository seam over the local registry (pushes,
 * deletes, uploads). Local content has no cache status. One small object per request:
 * the methods live on the prototype.
 */
export class LocalRepository implements Repository {
  readonly writable = true;

  constructor(private readonly registry: LocalRegistry, readonly name: string) {}

  /** Made on demand: a pull never allocates it. */
  get uploads(): RepositoryUploads {
    return new LocalUploads(this.registry, this.name);
  }

  getManifest(ref: Reference): Promise<ManifestResult> {
    return this.registry.getManifest(this.name, ref);
  }

  headManifest(ref: Reference): Promise<ManifestResult> {
    return this.getManifest(ref);
  }

  putManifest(ref: Reference, bytes: Buffer, contentType: string | undefined): Promise<PutManifestResult> {
    return this.registry.putManifest(this.name, ref, bytes, contentType);
  }

  deleteManifest(ref: Reference): Promise<void> {
    return this.registry.deleteManifest(this.name, ref);
  }

  async statBlob(digest: Digest): Promise<BlobInfo> {
    const src = await this.registry.getBlob(this.name, digest);
    return { digest: src.digest, size: src.size };
  }

  openBlob(digest: Digest): Promise<BlobSource> {
    return this.registry.getBlob(this.name, digest);
  }

  deleteBlob(digest: Digest): Promise<void> {
    return this.registry.deleteBlob(this.name, digest);
  }

  async listTags(n: number | undefined, last: string | undefined): Promise<TagPage> {
    const p = await this.registry.listTags(this.name, n, last);
    return { tags: p.items, next: p.next, stale: false };
  }

  referrers(digest: Digest, artifactType: string | undefined): Promise<Buffer> {
    return this.registry.referrers(this.name, digest, artifactType);
  }
}

/** Uploads into one local repository. */
class LocalUploads implements RepositoryUploads {
  constructor(private readonly registry: LocalRegistry, private readonly name: string) {}

  start(owner?: string): Promise<UploadState> {
    return this.registry.startUpload(this.name, owner);
  }

  append(id: string, body: Readable, start?: number, length?: number): Promise<UploadState> {
    return this.registry.appendUpload(this.name, id, body, start, length);
  }

  finish(id: string, digest: Digest, body?: Readable): Promise<{ digest: string }> {
    return this.registry.finishUpload(this.name, id, digest, body);
  }

  status(id: string): Promise<UploadState> {
    return this.registry.uploadStatus(this.name, id);
  }

  cancel(id: string): Promise<void> {
    return this.registry.cancelUpload(this.name, id);
  }

  mount(from: string, digest: Digest): Promise<boolean> {
    return this.registry.mountBlob(this.name, from, digest);
  }

  mountSources(digest: Digest): Promise<string[]> {
    return this.registry.mountSources(digest);
  }
}
