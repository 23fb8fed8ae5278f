import type { EventBus } from '../events/event-bus.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { OciError } from '../oci/errors.js';
import type { Reference } from '../oci/names.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { MaintenanceIndex, TagIndex } from '../storage/ports.js';
import { DEFAULT_DELETE_CONCURRENCY, deleteBlobFiles } from './blob-files.js';
import { parseImageRef as parseAnyImageRef } from '../oci/image-ref.js';

export interface EvictDeps {
  index: MaintenanceIndex;
  tags: Pick<TagIndex, 'getTag'>;
  store: BlobStore;
  log?: Logger;
  events?: EventBus;
}

export interface EvictSummary {
  repository: string;
  reference: string;
  /** Manifests removed from the repository (the image, and an index's platform manifests). */
  manifests: string[];
  /** Mirrored blobs removed (rows and files): those nothing else used. */
  blobs: number;
  bytesFreed: number;
}

/**
 * Evicts one cached image on purpose (issue 11): `registry-mirror evict
 * docker.io/library/alpine:3.20` and an admin's DELETE of a mirrored manifest. `repo` is
 * the index key of a mirrored repository ("docker.io/library/alpine"). Removes the
 * manifest (and an index's platform manifests), its tags in that repository, and the
 * mirrored blobs no other repository or manifest uses; nothing shared with another image
 * goes. The next pull fetches it again. MANIFEST_UNKNOWN when the repository lacks it.
 */
export async function evictImage(deps: EvictDeps, repo: string, ref: Reference): Promise<EvictSummary> {
  const log = deps.log ?? silentLogger;
  const reference = ref.kind === 'tag' ? ref.tag : ref.digest.value;
  const digest = ref.kind === 'digest' ? ref.digest.value : (await deps.tags.getTag(repo, ref.tag))?.digest;
  const evicted = digest === undefined ? undefined : await deps.index.evictImage(repo, digest);
  if (!evicted) throw new OciError('MANIFEST_UNKNOWN', { detail: { name: repo, reference } });
  await deleteBlobFiles(deps.store, evicted.blobs.map((b) => b.digest), DEFAULT_DELETE_CONCURRENCY, log);
  for (const m of evicted.manifests) deps.events?.emit('manifest.deleted', { repository: repo, digest: m });
  for (const b of evicted.blobs) deps.events?.emit('blob.evicted', { repository: repo, digest: b.digest, size: b.size });
  const summary = {
    repository: repo, reference, manifests: evicted.manifests,
    blobs: evicted.blobs.length, bytesFreed: evicted.blobs.reduce((n, b) => n + b.size, 0),
  };
  log.info('image evicted', { ...summary });
  return summary;
}

/**
 * An image reference as the CLI takes it: `NAME:TAG` or `NAME@DIGEST`, NAME as the index
 * keys mirrored repositories (upstream host first: "docker.io/library/alpine"). Throws a
 * plain Error (the CLI makes it a usage error).
 */
export function parseImageRef(text: string): { repo: string; ref: Reference } {
  // Evicting needs the image named exactly: a tag or a digest (no "latest" by default) and
  // the cache key's registry host. The grammar itself is the one of oci/image-ref.ts.
  const at = text.indexOf('@');
  if (at < 0 && !(text.lastIndexOf(':') > text.lastIndexOf('/'))) {
    throw new Error(`"${text}": expected NAME:TAG or NAME@DIGEST, e.g. docker.io/library/alpine:3.20`);
  }
  const { name, reference } = parseAnyImageRef(text);
  if (!name.includes('/')) throw new Error(`"${text}": name the upstream too, e.g. docker.io/library/${name}`);
  return { repo: name, ref: reference };
}
