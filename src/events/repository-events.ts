import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { Reference } from '../oci/names.js';
import type {
  BlobInfo, BlobSource, ManifestResult, PutManifestResult, Repository, RepositoryUploads, TagPage, UploadState,
} from '../repository/repository.js';
import type { EventBus } from './event-bus.js';

/** What a repository's events say about where they happened. */
export interface EventContext {
  /** The index key: the name for a local repository, "docker.io/library/alpine" for a mirrored one. */
  repository: string;
  /** The upstream's name for a mirrored repository. */
  upstream: string | undefined;
}

/**
 * A Repository with what happens to it announced on the bus, the way Distribution's
 * notifications wrap a repository (registry/notifications/listener.go). The repository
 * does the work; after it succeeded the decorator emits:
 * getManifest/headManifest → manifest.pulled (with the cache result); putManifest →
 * manifest.pushed, and tag.moved for a push by tag; deleteManifest → manifest.deleted or
 * tag.deleted; statBlob → blob.checked; openBlob → blob.pulled; deleteBlob → blob.deleted;
 * uploads.start → upload.started; uploads.finish → upload.finished then blob.pushed;
 * uploads.mount → blob.pushed. A call that throws emits nothing.
 *
 * The actor is the request's user (setActor, once authorization decided), or what the
 * Repository is told (putManifest's actor, the upload's owner). The memo (cachedManifest) is passed through without an event: it is a peek, and
 * the memo step emits once it has answered (http/v2-entry.ts).
 * Sizes of pushed blobs are read back (statBlob) only when someone listens.
 */
export function withEvents(repo: Repository, bus: EventBus, ctx: EventContext): Repository {
  return new EventedRepository(repo, bus, ctx);
}

/**
 * For the memo step, which answers from `cachedManifest` (a peek, no event) and only then
 * knows the pull happened: announces it as getManifest would have. A repository without
 * events is left alone.
 */
export function announceManifestPull(repo: Repository, ref: Reference, m: ManifestResult, actor: string | undefined): void {
  if (!(repo instanceof EventedRepository)) return;
  repo.actor = actor;
  repo.pulled(ref, m);
}

/**
 * Names the request's authenticated user as the actor of every later event of this
 * repository object (one per request): the router calls it once authorization decided,
 * since the repository is resolved before that.
 */
export function setActor(repo: Repository, actor: string | undefined): void {
  if (repo instanceof EventedRepository) repo.actor = actor;
}

/** One small object per request; the methods live on the prototype. */
class EventedRepository implements Repository {
  /** The request's user, once known (setActor). */
  actor: string | undefined = undefined;

  constructor(private readonly inner: Repository, private readonly bus: EventBus, private readonly ctx: EventContext) {}

  get name(): string { return this.inner.name; }
  get writable(): boolean { return this.inner.writable; }
  get uploads(): RepositoryUploads { return new EventedUploads(this.inner, this.bus, this.ctx, this); }

  cachedManifest(ref: Reference): ManifestResult | undefined {
    return this.inner.cachedManifest?.(ref);
  }

  async getManifest(ref: Reference): Promise<ManifestResult> {
    return this.pulled(ref, await this.inner.getManifest(ref));
  }

  async headManifest(ref: Reference): Promise<ManifestResult> {
    return this.pulled(ref, await this.inner.headManifest(ref));
  }

  /** Emits manifest.pulled for an answered GET/HEAD (also for the memo step). */
  pulled(ref: Reference, m: ManifestResult): ManifestResult {
    // The hottest emit (every cached-manifest GET): one object, built only when someone listens.
    if (this.bus.wants('manifest.pulled')) {
      this.bus.publish({
        type: 'manifest.pulled', repository: this.ctx.repository, digest: m.digest, size: m.bytes.length, mediaType: m.mediaType,
        tag: ref.kind === 'tag' ? ref.tag : undefined, actor: this.actor, upstream: this.ctx.upstream, cache: m.cache, time: this.bus.now(),
      });
    }
    return m;
  }

  async putManifest(ref: Reference, bytes: Buffer, contentType: string | undefined, actor?: string): Promise<PutManifestResult> {
    const result = await this.inner.putManifest(ref, bytes, contentType, actor);
    const fields = {
      repository: this.ctx.repository, upstream: this.ctx.upstream, digest: result.digest, size: bytes.length,
      mediaType: contentType, tag: ref.kind === 'tag' ? ref.tag : undefined, actor: actor ?? this.actor,
    };
    this.bus.emit('manifest.pushed', fields);
    if (ref.kind === 'tag') this.bus.emit('tag.moved', fields);
    return result;
  }

  async deleteManifest(ref: Reference): Promise<void> {
    await this.inner.deleteManifest(ref);
    const { repository, upstream } = this.ctx;
    if (ref.kind === 'tag') this.bus.emit('tag.deleted', { repository, upstream, tag: ref.tag, actor: this.actor });
    else this.bus.emit('manifest.deleted', { repository, upstream, digest: ref.digest.value, actor: this.actor });
  }

  async statBlob(digest: Digest): Promise<BlobInfo> {
    const info = await this.inner.statBlob(digest);
    this.bus.emit('blob.checked', {
      repository: this.ctx.repository, upstream: this.ctx.upstream, digest: info.digest, size: info.size, cache: info.cache, actor: this.actor,
    });
    return info;
  }

  async openBlob(digest: Digest): Promise<BlobSource> {
    const src = await this.inner.openBlob(digest);
    this.bus.emit('blob.pulled', {
      repository: this.ctx.repository, upstream: this.ctx.upstream, digest: src.digest, size: src.size, cache: src.cache, actor: this.actor,
    });
    return src;
  }

  async deleteBlob(digest: Digest): Promise<void> {
    await this.inner.deleteBlob(digest);
    this.bus.emit('blob.deleted', { repository: this.ctx.repository, upstream: this.ctx.upstream, digest: digest.value, actor: this.actor });
  }

  listTags(n: number | undefined, last: string | undefined): Promise<TagPage> {
    return this.inner.listTags(n, last);
  }

  referrers(digest: Digest, artifactType: string | undefined): Promise<Buffer> {
    return this.inner.referrers(digest, artifactType);
  }
}

/** The uploads of an evented repository. */
class EventedUploads implements RepositoryUploads {
  private readonly inner: RepositoryUploads;

  constructor(
    private readonly repo: Repository, private readonly bus: EventBus, private readonly ctx: EventContext,
    private readonly by: { actor: string | undefined },
  ) {
    this.inner = repo.uploads;
  }

  async start(owner?: string): Promise<UploadState> {
    const state = await this.inner.start(owner);
    this.bus.emit('upload.started', { repository: this.ctx.repository, actor: owner || this.by.actor });
    return state;
  }

  append(id: string, body: Readable, start?: number, length?: number): Promise<UploadState> {
    return this.inner.append(id, body, start, length);
  }

  async finish(id: string, digest: Digest, body?: Readable): Promise<{ digest: string }> {
    const result = await this.inner.finish(id, digest, body);
    const size = await this.sizeFor('upload.finished', digest);
    const fields = { repository: this.ctx.repository, digest: result.digest, size, actor: this.by.actor };
    this.bus.emit('upload.finished', fields);
    this.bus.emit('blob.pushed', fields);
    return result;
  }

  status(id: string): Promise<UploadState> {
    return this.inner.status(id);
  }

  cancel(id: string): Promise<void> {
    return this.inner.cancel(id);
  }

  async mount(from: string, digest: Digest): Promise<boolean> {
    const mounted = await this.inner.mount(from, digest);
    if (mounted) {
      const size = await this.sizeFor('blob.pushed', digest);
      this.bus.emit('blob.pushed', { repository: this.ctx.repository, digest: digest.value, size, actor: this.by.actor });
    }
    return mounted;
  }

  mountSources(digest: Digest): Promise<string[]> {
    return this.inner.mountSources(digest);
  }

  /** The size of a blob just made visible here, read back only when someone listens. */
  private async sizeFor(type: 'upload.finished' | 'blob.pushed', digest: Digest): Promise<number | undefined> {
    if (!this.bus.wants(type) && !this.bus.wants('blob.pushed')) return undefined;
    try {
      return (await this.repo.statBlob(digest)).size;
    } catch {
      return undefined; // deleted meanwhile: the event still says it was pushed
    }
  }
}
