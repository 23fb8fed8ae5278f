import type { LocalRegistry } from '../registry/local-registry.js';
import type { RegistryIndex } from '../storage/registry-index.js';
import type { EventBus } from './event-bus.js';

/** What the decorator reads to describe a change (sizes, media types, a tag's digest). */
export type EventLookups = Pick<RegistryIndex, 'getBlob' | 'getTag' | 'repoManifestType'>;

/**
 * The local registry with its writes announced on the bus, the way Distribution's
 * notifications wrap a repository (registry/notifications/listener.go): the registry
 * does the work, and after it succeeded the decorator emits manifest.pushed (+ tag.moved
 * for a push by tag), manifest.deleted / tag.deleted, blob.deleted, upload.started,
 * upload.finished + blob.pushed, and blob.pushed for a mount. A write that fails emits
 * nothing. Every other method (and `uploads`) is the registry's own.
 *
 * The actor is the upload's owner where the registry is told it (startUpload); the other
 * methods take no user today, so their events carry actor undefined until the Repository
 * seam hands the request's user to a per-request decorator.
 * Lookups for sizes and media types run only when someone listens to that type.
 */
export function withRegistryEvents<R extends LocalRegistry>(registry: R, bus: EventBus, lookups: EventLookups): R {
  const blobSize = (digest: string) => lookups.getBlob(digest)?.size;
  return {
    ...registry,

    putManifest(repo, ref, bytes, contentType) {
      const result = registry.putManifest(repo, ref, bytes, contentType);
      const tag = ref.kind === 'tag' ? ref.tag : undefined;
      const fields = {
        repository: repo, digest: result.digest, size: bytes.length, tag,
        mediaType: bus.wants('manifest.pushed') || bus.wants('tag.moved') ? lookups.repoManifestType(repo, result.digest) : undefined,
      };
      bus.emit('manifest.pushed', fields);
      if (tag !== undefined) bus.emit('tag.moved', fields);
      return result;
    },

    deleteManifest(repo, ref) {
      if (ref.kind === 'tag') {
        const digest = bus.wants('tag.deleted') ? lookups.getTag(repo, ref.tag)?.digest : undefined;
        registry.deleteManifest(repo, ref);
        bus.emit('tag.deleted', { repository: repo, tag: ref.tag, digest });
        return;
      }
      const mediaType = bus.wants('manifest.deleted') ? lookups.repoManifestType(repo, ref.digest.value) : undefined;
      registry.deleteManifest(repo, ref);
      bus.emit('manifest.deleted', { repository: repo, digest: ref.digest.value, mediaType });
    },

    deleteBlob(repo, digest) {
      const size = bus.wants('blob.deleted') ? blobSize(digest.value) : undefined;
      registry.deleteBlob(repo, digest);
      bus.emit('blob.deleted', { repository: repo, digest: digest.value, size });
    },

    async startUpload(repo, owner) {
      const state = await registry.startUpload(repo, owner);
      bus.emit('upload.started', { repository: repo, actor: owner || undefined });
      return state;
    },

    async finishUpload(repo, id, digest, body) {
      const result = await registry.finishUpload(repo, id, digest, body);
      const size = bus.wants('upload.finished') || bus.wants('blob.pushed') ? blobSize(result.digest) : undefined;
      bus.emit('upload.finished', { repository: repo, digest: result.digest, size });
      bus.emit('blob.pushed', { repository: repo, digest: result.digest, size });
      return result;
    },

    mountBlob(repo, from, digest) {
      const mounted = registry.mountBlob(repo, from, digest);
      if (mounted) bus.emit('blob.pushed', { repository: repo, digest: digest.value, size: bus.wants('blob.pushed') ? blobSize(digest.value) : undefined });
      return mounted;
    },
  };
}
