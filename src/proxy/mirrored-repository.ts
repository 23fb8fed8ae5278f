import { MEDIA_TYPES } from '../oci/manifest.js';
import { OciError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { Reference } from '../oci/names.js';
import type {
  BlobInfo, BlobSource, ManifestResult, PutManifestResult, Repository, RepositoryUploads, TagPage, UploadState,
} from '../repository/repository.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';
import type { BlobProxy } from './blobs.js';
import type { ManifestProxy } from './manifests.js';
import type { TagsProxy } from './tags.js';

/** The pull-through services one upstream's repositories share. */
export interface MirrorServices {
  manifests: ManifestProxy;
  blobs: BlobProxy;
  tags: TagsProxy;
}

const EMPTY_INDEX = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] }));

const readOnly = (name: string): never => {
  throw new OciError('DENIED', { message: 'mirrored repositories are read-only', detail: { name } });
};

/**
 * A repository mirrored from an upstream: the Repository seam over the manifest, blob and
 * tag proxies (Distribution's proxy repository). Every write answers DENIED; referrers are
 * not mirrored yet, so they are an empty index.
 */
export class MirroredRepository implements Repository {
  readonly writable = false;
  readonly name: string;

  constructor(private readonly services: MirrorServices, readonly target: MirrorTarget) {
    this.name = target.name;
  }

  /** Made on demand: a pull (the hot path) never allocates it. */
  get uploads(): RepositoryUploads {
    return new DeniedUploads(this.name);
  }

  getManifest(ref: Reference): Promise<ManifestResult> {
    return this.services.manifests.get(this.target, ref);
  }

  cachedManifest(ref: Reference): ManifestResult | undefined {
    return ref.kind === 'tag' ? this.services.manifests.peekFresh(this.target, ref.tag) : undefined;
  }

  headManifest(ref: Reference): Promise<ManifestResult> {
    return this.getManifest(ref);
  }

  async putManifest(): Promise<PutManifestResult> {
    return readOnly(this.name);
  }

  async deleteManifest(): Promise<void> {
    readOnly(this.name);
  }

  async statBlob(digest: Digest): Promise<BlobInfo> {
    const info = await this.services.blobs.head(this.target, digest);
    return { digest: digest.value, size: info.size, cache: info.cache };
  }

  openBlob(digest: Digest): Promise<BlobSource> {
    return this.services.blobs.get(this.target, digest);
  }

  async deleteBlob(): Promise<void> {
    readOnly(this.name);
  }

  listTags(n: number | undefined, last: string | undefined): Promise<TagPage> {
    return this.services.tags.list(this.target, n, last);
  }

  async referrers(): Promise<Buffer> {
    return EMPTY_INDEX;
  }
}

/** A mirrored repository takes no uploads. */
class DeniedUploads implements RepositoryUploads {
  constructor(private readonly name: string) {}
  async start(): Promise<UploadState> { return readOnly(this.name); }
  async append(): Promise<UploadState> { return readOnly(this.name); }
  async finish(): Promise<{ digest: string }> { return readOnly(this.name); }
  async status(): Promise<UploadState> { return readOnly(this.name); }
  async cancel(): Promise<void> { readOnly(this.name); }
  async mount(): Promise<boolean> { return readOnly(this.name); }
  async mountSources(): Promise<string[]> { return []; }
}
