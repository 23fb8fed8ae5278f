import { OciError } from '../oci/errors.js';
import { MEDIA_TYPES } from '../oci/manifest.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { RegistryIndex } from '../storage/registry-index.js';
import type { LocalRegistry, Page } from './local-registry.js';
import { validatePushedManifest } from './manifest-push.js';
import { UploadSessions } from './uploads.js';

export interface LocalRegistryDeps {
  index: RegistryIndex;
  store: BlobStore;
  uploadExpiryMs: number;
  /** True when pushing to this (new) name would hide mirrored content. */
  shadowsMirror: (name: string) => boolean;
  now?: () => number;
}

/**
 * Local namespaces: a plain OCI registry over the same blob store and index as the
 * mirror. Pushed blobs are marked origin=push, so cache pruning never evicts them.
 */
export function createLocalRegistry(deps: LocalRegistryDeps): LocalRegistry & { uploads: UploadSessions } {
  const { index, store } = deps;
  const now = deps.now ?? Date.now;
  const uploads = new UploadSessions(store, deps.uploadExpiryMs, now);

  /** First write to a repository creates it, unless it would shadow a mirrored one. */
  const ensureWritable = (repo: string) => {
    if (index.hasRepository(repo)) return;
    if (deps.shadowsMirror(repo)) {
      throw new OciError('DENIED', { message: 'this name is already mirrored from the upstream; pushing would shadow it', detail: { name: repo } });
    }
    index.ensureRepository(repo, 'local', null, now());
  };

  const page = <T>(items: T[], n: number | undefined, key: (t: T) => string): Page<T> => {
    if (n === undefined || items.length <= n) return { items };
    const kept = items.slice(0, n);
    return { items: kept, next: key(kept[kept.length - 1]!) };
  };

  return {
    uploads,

    getManifest(repo, ref) {
      const digest = ref.kind === 'digest' ? ref.digest.value : index.getTag(repo, ref.tag)?.digest;
      if (!digest || !index.hasRepoManifest(repo, digest)) throw new OciError('MANIFEST_UNKNOWN', { detail: { name: repo } });
      const row = index.getManifest(digest);
      if (!row) throw new OciError('MANIFEST_UNKNOWN', { detail: { name: repo } });
      index.touchManifest(digest, now());
      return { digest, mediaType: row.mediaType, bytes: row.bytes };
    },

    putManifest(repo, ref, bytes, contentType) {
      const { digest, parsed } = validatePushedManifest(index, repo, ref, bytes, contentType);
      ensureWritable(repo);
      const at = now();
      index.putManifest(repo, {
        digest, mediaType: parsed.mediaType, size: bytes.length, bytes, subject: parsed.subject,
        artifactType: parsed.artifactType, annotations: parsed.annotations ? JSON.stringify(parsed.annotations) : null,
      }, [...parsed.refs, ...(parsed.subject ? [{ child: parsed.subject, kind: 'subject' as const }] : [])], at, {
        requireRefs: true, tag: ref.kind === 'tag' ? ref.tag : undefined,
      });
      return { digest, subject: parsed.subject ?? undefined };
    },

    deleteManifest(repo, ref) {
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
      if (!index.unlinkBlob(repo, digest.value)) throw new OciError('BLOB_UNKNOWN', { detail: { digest: digest.value } });
    },

    async startUpload(repo) {
      ensureWritable(repo);
      return uploads.start(repo);
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
