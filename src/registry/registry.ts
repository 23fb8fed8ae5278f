import { OciError } from '../oci/errors.js';
import { MEDIA_TYPES, servedMediaType } from '../oci/manifest.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { RegistryIndex } from '../storage/registry-index.js';
import type { LocalRegistry, Page } from './local-registry.js';
import { validatePushedManifest } from './manifest-push.js';
import { UploadSessions, type UploadLimits } from './uploads.js';

export interface LocalRegistryDeps {
  index: RegistryIndex;
  store: BlobStore;
  uploads: UploadLimits;
  /** True when pushing to this (new) name would hide mirrored content. */
  shadowsMirror: (name: string) => boolean;
  /**
   * True when the name is also the index key of mirrored content ("docker.io/library/alpine"
   * when docker.io is an upstream): a local namespace pattern that matches it must not let
   * a pusher write into the mirror's cache, whose tags and links mirror clients are served.
   */
  isMirrorKey?: (name: string) => boolean;
  now?: () => number;
}

/**
 * Local namespaces: a plain OCI registry over the same blob store and index as the
 * mirror. Pushed blobs are marked origin=push, so cache pruning never evicts them.
 */
export function createLocalRegistry(deps: LocalRegistryDeps): LocalRegistry & { uploads: UploadSessions } {
  const { index, store } = deps;
  const now = deps.now ?? Date.now;
  const uploads = new UploadSessions(store, deps.uploads, now);

  /** First write to a repository creates it, unless it would shadow a mirrored one. */
  const ensureWritable = (repo: string) => {
    refuseMirrorKey(repo);
    if (index.hasRepository(repo)) return;
    if (deps.shadowsMirror(repo)) {
      throw new OciError('DENIED', { message: 'this name is already mirrored from the upstream; pushing would shadow it', detail: { name: repo } });
    }
    index.ensureRepository(repo, 'local', null, now());
  };

  function refuseMirrorKey(repo: string): void {
    if (deps.isMirrorKey?.(repo)) {
      throw new OciError('DENIED', { message: 'this name is where the mirror keeps an upstream\'s content; it cannot be written', detail: { name: repo } });
    }
  }

  const page = <T>(items: T[], n: number | undefined, key: (t: T) => string): Page<T> => {
    if (n === undefined || items.length <= n) return { items };
    const kept = items.slice(0, n);
    return { items: kept, next: key(kept[kept.length - 1]!) };
  };

  return {
    uploads,

    getManifest(repo, ref) {
      const digest = ref.kind === 'digest' ? ref.digest.value : index.getTag(repo, ref.tag)?.digest;
      // The media type of this repository's link: another repository's push of the same
      // bytes does not change what this one serves.
      const mediaType = digest === undefined ? undefined : index.repoManifestType(repo, digest);
      const row = mediaType === undefined ? undefined : index.getManifest(digest!);
      if (!row || mediaType === undefined) throw new OciError('MANIFEST_UNKNOWN', { detail: { name: repo } });
      index.touchManifest(row.digest, now());
      return { digest: row.digest, mediaType: servedMediaType(mediaType), bytes: row.bytes };
    },

    putManifest(repo, ref, bytes, contentType) {
      const { digest, row, refs, manifest } = validatePushedManifest(index, repo, ref, bytes, contentType);
      ensureWritable(repo);
      index.putManifest(repo, row, refs, now(), { requireRefs: true, tag: ref.kind === 'tag' ? ref.tag : undefined });
      return { digest, subject: manifest.subject ?? undefined };
    },

    deleteManifest(repo, ref) {
      refuseMirrorKey(repo);
      if (ref.kind === 'tag') {
        if (!index.getTag(repo, ref.tag)) throw new OciError('MANIFEST_UNKNOWN', { detail: { name: repo, tag: ref.tag } });
        index.deleteTag(repo, ref.tag);
        return;
      }
      if (!index.unlinkManifest(repo, ref.digest.value)) throw new OciError('MANIFEST_UNKNOWN', { detail: { name: repo } });
    },

    async getBlob(repo, digest) {
      const info = index.hasRepoBlob(repo, digest.value) ? await store.stat(digest.value) : undefined;
      if (!info) throw new OciError('BLOB_UNKNOWN', { detail: { digest: digest.value } });
      index.touchBlob(digest.value, now());
      return {
        digest: digest.value, size: info.size, open: (range) => store.open(digest.value, range), localPath: store.localPath?.(digest.value),
      };
    },

    deleteBlob(repo, digest) {
      refuseMirrorKey(repo);
      if (!index.unlinkBlob(repo, digest.value)) throw new OciError('BLOB_UNKNOWN', { detail: { digest: digest.value } });
    },

    async startUpload(repo, owner) {
      ensureWritable(repo);
      return uploads.start(repo, owner);
    },
    appendUpload: (repo, id, body, start, length) => uploads.append(repo, id, body, start, length),
    async finishUpload(repo, id, digest, body) {
      const info = await uploads.finish(repo, id, digest, body);
      index.putBlob(repo, { digest: info.digest, size: info.size, origin: 'push' }, now());
      return { digest: info.digest };
    },
    uploadStatus: (repo, id) => uploads.status(repo, id),
    cancelUpload: (repo, id) => uploads.cancel(repo, id),
    expireUploads: () => uploads.expire(),

    mountBlob(repo, from, digest) {
      if (!index.hasRepoBlob(from, digest.value) || !index.getBlob(digest.value)) return false;
      ensureWritable(repo);
      index.linkBlob(repo, digest.value);
      return true;
    },

    // Bounded: a caller may pull from few of them; the first few it may are enough.
    mountSources: (digest) => index.localRepositoriesWithBlob(digest.value, 20),

    listTags(repo, n, last) {
      if (!index.hasRepository(repo)) throw new OciError('NAME_UNKNOWN', { detail: { name: repo } });
      const tags = index.listTags(repo, n === undefined ? 100_000 : n + 1, last);
      return page(tags, n, (t) => t);
    },

    catalog(n, last, visible) {
      const names = index.listRepositories('local', 100_000, last).filter(visible);
      return page(names, n, (t) => t);
    },

    referrers(repo, digest, artifactType) {
      const rows = index.referrers(repo, digest.value).filter((r) => !artifactType || r.artifactType === artifactType);
      return Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: rows.map((r) => ({
          mediaType: r.mediaType,
          digest: r.digest,
          size: r.size,
          ...(r.artifactType ? { artifactType: r.artifactType } : {}),
          ...(r.annotations ? { annotations: JSON.parse(r.annotations) as Record<string, string> } : {}),
        })),
      }));
    },
  };
}
