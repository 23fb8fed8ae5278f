import type { EventBus } from '../events/event-bus.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { OciError } from '../oci/errors.js';
import type { Reference } from '../oci/names.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { BlobIndex, MaintenanceIndex, TagIndex } from '../storage/ports.js';
import { DEFAULT_DELETE_CONCURRENCY, deleteBlobFiles } from './blob-files.js';
import type { DeletePins } from './delete-pins.js';
import { parseImageRef as parseAnyImageRef } from '../oci/image-ref.js';

export interface EvictDeps {
  index: MaintenanceIndex;
  tags: Pick<TagIndex, 'getTag'>;
  store: BlobStore;
  log?: Logger;
  events?: EventBus;
  /**
   * Issue 13: opens the cluster's pins for one eviction (delete-pins.ts; undefined on a
   * local index). A blob another replica is sending keeps its object and gets its row
   * back (unlinked: prune takes it later), so no row ever names a missing object.
   */
  openPins?: () => Promise<DeletePins | undefined>;
  /** Where a kept blob's row is written back (needed with openPins). */
  blobs?: Pick<BlobIndex, 'putBlob' | 'unlinkBlob'>;
}

export interface EvictSummary {
  repository: string;
  reference: string;
  /** Manifests removed from the repository (the image, and an index's platform manifests). */
  manifests: string[];
  /** Mirrored blobs removed (rows and files): those nothing else used. */
  blobs: number;
  bytesFreed: number;
  /** Issue 13 (with openPins): blobs kept because a replica was sending them (row back, object kept). */
  skippedInUse?: number;
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
  const pins = digest === undefined ? undefined : await deps.openPins?.();
  const unlocks = new Map<string, () => Promise<void>>();
  let skippedInUse = 0;
  let evicted: Awaited<ReturnType<MaintenanceIndex['evictImage']>>;
  try {
    if (pins) {
      // Pinned before the rows go: a reader pinning meanwhile waits, then sees a clean miss.
      for (const b of (await deps.index.previewEvictImage(repo, digest!))?.blobs ?? []) {
        const unlock = await pins.lock(b.digest);
        if (unlock) unlocks.set(b.digest, unlock);
      }
    }
    evicted = digest === undefined ? undefined : await deps.index.evictImage(repo, digest);
    if (!evicted) throw new OciError('MANIFEST_UNKNOWN', { detail: { name: repo, reference } });
    let gone = evicted.blobs;
    if (pins) {
      gone = [];
      for (const b of evicted.blobs) {
        const unlock = unlocks.get(b.digest) ?? await pins.lock(b.digest);
        if (unlock) {
          unlocks.set(b.digest, unlock);
          gone.push(b);
          continue;
        }
        // Being sent by a replica: the object stays, so its row comes back.
        skippedInUse++;
        await deps.blobs?.putBlob(repo, { digest: b.digest, size: b.size, origin: 'upstream' }, Date.now());
        await deps.blobs?.unlinkBlob(repo, b.digest);
      }
      evicted = { ...evicted, blobs: gone };
    }
    await deleteBlobFiles(deps.store, gone.map((b) => b.digest), DEFAULT_DELETE_CONCURRENCY, log);
  } finally {
    await Promise.all([...unlocks.values()].map((u) => u()));
    await pins?.close();
  }
  for (const m of evicted.manifests) deps.events?.emit('manifest.deleted', { repository: repo, digest: m });
  for (const b of evicted.blobs) deps.events?.emit('blob.evicted', { repository: repo, digest: b.digest, size: b.size });
  const summary = {
    repository: repo, reference, manifests: evicted.manifests,
    blobs: evicted.blobs.length, bytesFreed: evicted.blobs.reduce((n, b) => n + b.size, 0),
    ...(pins ? { skippedInUse } : {}),
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
