import { OciError } from '../oci/errors.js';
import { MEDIA_TYPES, servedMediaType } from '../oci/manifest.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { AccessBatcher } from '../storage/access-batcher.js';
import type { StoragePorts } from '../storage/ports.js';
import type { LocalRegistry, Page } from './local-registry.js';
import { validatePushedManifest } from './manifest-push.js';
import { SharedUploadSessions } from './shared-uploads.js';
import { UploadSessions, type UploadLimits, type UploadSessionStore } from './uploads.js';

export interface LocalRegistryDeps {
  ports: Pick<StoragePorts, 'tags' | 'manifests' | 'blobs' | 'repositories' | 'uploads'>;
  /** Where accesses are noted (written in batches). */
  access: Pick<AccessBatcher, 'touchBlob' | 'touchManifest'>;
  store: BlobStore;
  uploads: UploadLimits;
  /** True when pushing to this (new) name would hide mirrored content. */
  shadowsMirror: (name: string) => Promise<boolean>;
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
export function createLocalRegistry(deps: LocalRegistryDeps): LocalRegistry & { uploads: UploadSessionStore } {
  const { ports, ports: { tags, manifests, blobs, repositories }, access, store } = deps;
  const now = deps.now ?? Date.now;
  // Issue 13: with a shared index and a shared bucket (PostgreSQL and S3), sessions live
  // there, so a push may move between replicas; otherwise in this process, as before.
  const uploads: UploadSessionStore = ports.uploads && store.uploadChunks
    ? new SharedUploadSessions({ index: ports.uploads, chunks: store.uploadChunks, store, limits: deps.uploads, now })
    : new UploadSessions(store, deps.uploads, now);

  /** First write to a repository creates it, unless it would shadow a mirrored one. */
  const ensureWritable = async (repo: string): Promise<void> => {
    refuseMirrorKey(repo);
    if (await repositories.hasRepository(repo)) return;
    if (await deps.shadowsMirror(repo)) {
      throw new OciError('DENIED', { message: 'this name is already mirrored from the upstream; pushing would shadow it', detail: { name: repo } });
    }
    await repositories.ensureRepository(repo, 'local', null, now());
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

    async getManifest(repo, ref) {
      const digest = ref.kind === 'digest' ? ref.digest.value : (await tags.getTag(repo, ref.tag))?.digest;
      // The media type of this repository's link: another repository's push of the same
      // bytes does not change what this one serves.
      const mediaType = digest === undefined ? undefined : await manifests.repoManifestType(repo, digest);
      const row = mediaType === undefined ? undefined : await manifests.getManifest(digest!);
      if (!row || mediaType === undefined) throw new OciError('MANIFEST_UNKNOWN', { detail: { name: repo } });
      access.touchManifest(row.digest, now());
      return { digest: row.digest, mediaType: servedMediaType(mediaType), bytes: row.bytes };
    },

    async putManifest(repo, ref, bytes, contentType) {
      const { digest, row, refs, manifest } = await validatePushedManifest(ports, repo, ref, bytes, contentType);
      await ensureWritable(repo);
      // requireRefs checks the references again inside the insert's transaction (a gc may run meanwhile).
      await manifests.putManifest(repo, row, refs, now(), { requireRefs: true, tag: ref.kind === 'tag' ? ref.tag : undefined });
      return { digest, subject: manifest.subject ?? undefined };
    },

    async deleteManifest(repo, ref) {
      refuseMirrorKey(repo);
      if (ref.kind === 'tag') {
        if (!(await tags.getTag(repo, ref.tag))) throw new OciError('MANIFEST_UNKNOWN', { detail: { name: repo, tag: ref.tag } });
        await tags.deleteTag(repo, ref.tag);
        return;
      }
      if (!(await manifests.unlinkManifest(repo, ref.digest.value))) throw new OciError('MANIFEST_UNKNOWN', { detail: { name: repo } });
    },

    async getBlob(repo, digest) {
      const info = (await blobs.hasRepoBlob(repo, digest.value)) ? await store.stat(digest.value) : undefined;
      if (!info) throw new OciError('BLOB_UNKNOWN', { detail: { digest: digest.value } });
      access.touchBlob(digest.value, now());
      return {
        digest: digest.value, size: info.size, open: (range) => store.open(digest.value, range), localPath: store.localPath?.(digest.value),
      };
    },

    async deleteBlob(repo, digest) {
      refuseMirrorKey(repo);
      if (!(await blobs.unlinkBlob(repo, digest.value))) throw new OciError('BLOB_UNKNOWN', { detail: { digest: digest.value } });
    },

    async startUpload(repo, owner) {
      await ensureWritable(repo);
      return uploads.start(repo, owner);
    },
    appendUpload: (repo, id, body, start, length) => uploads.append(repo, id, body, start, length),
    async finishUpload(repo, id, digest, body) {
      const info = await uploads.finish(repo, id, digest, body);
      await blobs.putBlob(repo, { digest: info.digest, size: info.size, origin: 'push' }, now());
      return { digest: info.digest };
    },
    uploadStatus: (repo, id) => uploads.status(repo, id),
    cancelUpload: (repo, id) => uploads.cancel(repo, id),
    expireUploads: () => uploads.expire(),

    async mountBlob(repo, from, digest) {
      if (!(await blobs.hasRepoBlob(from, digest.value)) || !(await blobs.getBlob(digest.value))) return false;
      await ensureWritable(repo);
      await blobs.linkBlob(repo, digest.value);
      return true;
    },

    // Bounded: a caller may pull from few of them; the first few it may are enough.
    mountSources: (digest) => blobs.localRepositoriesWithBlob(digest.value, 20),

    async listTags(repo, n, last) {
      if (!(await repositories.hasRepository(repo))) throw new OciError('NAME_UNKNOWN', { detail: { name: repo } });
      const names = await tags.listTags(repo, n === undefined ? 100_000 : n + 1, last);
      return page(names, n, (t) => t);
    },

    async catalog(n, last, visible) {
      const names = (await repositories.listRepositories('local', 100_000, last)).filter(visible);
      return page(names, n, (t) => t);
    },

    async referrers(repo, digest, artifactType) {
      const rows = (await manifests.referrers(repo, digest.value)).filter((r) => !artifactType || r.artifactType === artifactType);
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
