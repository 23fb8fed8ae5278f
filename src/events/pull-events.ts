import type { Reference } from '../oci/names.js';
import type { RepositoryTarget } from '../routing/resolve-repository.js';
import type { EventBus } from './event-bus.js';
import type { CacheStatus } from './event-types.js';

/**
 * One call per answered pull, for the routes and the cached-manifest fast path: the
 * repository, upstream and tag come from the target and reference, so that an emit site
 * is one line. Local content has no cache status.
 */
export function emitManifestPull(
  bus: EventBus, target: RepositoryTarget, tag: string | undefined,
  m: { digest: string; mediaType: string; bytes: Buffer; cache?: CacheStatus }, actor: string | undefined,
): void {
  bus.emit('manifest.pulled', {
    repository: target.cacheRepo, digest: m.digest, size: m.bytes.length, mediaType: m.mediaType, tag, actor,
    upstream: target.kind === 'mirror' ? target.upstream.config.name : undefined, cache: m.cache,
  });
}

/** The tag of a reference, when it is one. */
export const tagOf = (ref: Reference): string | undefined => (ref.kind === 'tag' ? ref.tag : undefined);

/** A blob GET (blob.pulled) or HEAD (blob.checked) answered. */
export function emitBlobPull(
  bus: EventBus, head: boolean, target: RepositoryTarget, digest: string, size: number | undefined,
  cache: CacheStatus | undefined, actor: string | undefined,
): void {
  bus.emit(head ? 'blob.checked' : 'blob.pulled', {
    repository: target.cacheRepo, digest, size, actor,
    upstream: target.kind === 'mirror' ? target.upstream.config.name : undefined, cache,
  });
}
