import { finished } from 'node:stream/promises';
import PQueue from 'p-queue';
import { parseDigest } from '../oci/digest.js';
import { isOciError } from '../oci/errors.js';
import type { ImageRef } from '../oci/image-ref.js';
import { parseManifest } from '../oci/manifest.js';
import { platformKey } from '../proxy/prefetch-platforms.js';
import type { ManifestResult, Repository } from '../repository/repository.js';
import type { RepositoryResolver } from '../routing/resolve-repository.js';

/** Images warmed at once, and blobs read at once, unless told otherwise. */
export const DEFAULT_WARM_CONCURRENCY = 4;
/** An index of indexes is followed this deep (OCI allows nesting; real images use one level). */
const MAX_DEPTH = 4;

export interface WarmOptions {
  /** "os/arch" or "os/arch/variant" ("linux/arm64" matches every variant); empty: every entry of an index. */
  platforms?: readonly string[];
  /** Images in progress at once, and blobs being read at once (each bound apart). */
  concurrency?: number;
  /** Told when each image is done (or failed), in completion order. */
  onImage?: (result: WarmImageResult) => void;
  /** Stops the run: nothing new starts, blobs being read are let go (their fills go on). */
  signal?: AbortSignal;
}

export interface WarmImageResult {
  image: string;
  ok: boolean;
  /** The digest the reference resolved to. */
  digest?: string;
  /** Manifests read (the image's, and the platform manifests of an index). */
  manifests: number;
  /** Blobs (configs and layers) of the image. */
  blobs: number;
  /** Of those, fetched from the upstream by this run (or joined while being fetched). */
  fetched: number;
  bytesFetched: number;
  /** Why it failed: an OCI code and message. */
  error?: string;
}

export interface WarmSummary {
  images: number;
  failed: number;
  manifests: number;
  /** Distinct blobs fetched from an upstream during the run, and their bytes. */
  blobsFetched: number;
  bytesFetched: number;
  /** Distinct blobs that were on disk already. */
  alreadyCached: number;
  failures: Array<{ image: string; error: string }>;
}

/**
 * Pre-pulls images into the cache through the normal pull path: the Repository the
 * resolver gives for each name (getManifest, then openBlob read to the end), so fills,
 * fail-closed linking, events and metrics are those of a client's pull. A tag is
 * resolved as a client's pull would (revalidated once its tag_ttl has passed). An index
 * is followed into its platform manifests (all, or `platforms`). A blob already on disk
 * is only noted as accessed (its file is not read); a missing one is filled, and read to
 * its last byte, which a follower gets only once the fill is verified and recorded.
 * Failures are counted per image, never thrown.
 */
export async function warmImages(resolver: RepositoryResolver, images: readonly ImageRef[], options: WarmOptions = {}): Promise<WarmSummary> {
  const concurrency = options.concurrency ?? DEFAULT_WARM_CONCURRENCY;
  const wanted = (options.platforms ?? []).map((p) => p.toLowerCase());
  const imageQueue = new PQueue({ concurrency });
  const blobQueue = new PQueue({ concurrency });
  const blobs = new Map<string, { size: number; fetched: boolean }>();
  const summary: WarmSummary = { images: images.length, failed: 0, manifests: 0, blobsFetched: 0, bytesFetched: 0, alreadyCached: 0, failures: [] };
  const signal = options.signal;

  const matches = (platform: unknown): boolean => {
    if (wanted.length === 0) return true;
    const key = platformKey(platform as Parameters<typeof platformKey>[0]);
    return key !== undefined && wanted.some((p) => key === p || key.startsWith(`${p}/`));
  };

  async function blob(repo: Repository, digest: string, result: WarmImageResult): Promise<void> {
    signal?.throwIfAborted();
    const source = await repo.openBlob(parseDigest(digest));
    result.blobs++;
    const seen = blobs.get(digest) ?? { size: source.size ?? 0, fetched: false };
    blobs.set(digest, seen);
    if (source.cache !== 'MISS') return;
    // Read to the end: the last byte comes only once the fill is verified and recorded.
    const stream = await source.open();
    await finished(stream.resume(), signal ? { signal } : {}).finally(() => stream.destroy());
    seen.fetched = true;
    result.fetched++;
    result.bytesFetched += source.size ?? 0;
  }

  async function walk(repo: Repository, m: ManifestResult, result: WarmImageResult, depth: number): Promise<void> {
    result.manifests++;
    const doc = JSON.parse(m.bytes.toString('utf8')) as { manifests?: Array<{ digest?: unknown; platform?: unknown; mediaType?: unknown }> };
    if (Array.isArray(doc.manifests)) {
      if (depth >= MAX_DEPTH) return;
      const children = doc.manifests.filter((e) => typeof e?.digest === 'string'
        && (matches(e.platform) || (e.platform === undefined && /index|list/.test(String(e.mediaType)))));
      for (const entry of children) {
        signal?.throwIfAborted();
        const child = await repo.getManifest({ kind: 'digest', digest: parseDigest(entry.digest as string) });
        await walk(repo, child, result, depth + 1);
      }
      return;
    }
    const refs = parseManifest(m.bytes, m.mediaType).refs.filter((r) => r.kind !== 'manifest');
    await Promise.all(refs.map((r) => blobQueue.add(() => blob(repo, r.child, result))));
  }

  await Promise.all(images.map((image) => imageQueue.add(async () => {
    const result: WarmImageResult = { image: image.text, ok: false, manifests: 0, blobs: 0, fetched: 0, bytesFetched: 0 };
    try {
      signal?.throwIfAborted();
      const { repository } = resolver.resolve(image.name);
      const m = await repository.getManifest(image.reference);
      result.digest = m.digest;
      await walk(repository, m, result, 0);
      result.ok = true;
    } catch (err) {
      result.error = describe(err);
      summary.failed++;
      summary.failures.push({ image: image.text, error: result.error });
    }
    summary.manifests += result.manifests;
    options.onImage?.(result);
  })));

  for (const b of blobs.values()) {
    if (b.fetched) {
      summary.blobsFetched++;
      summary.bytesFetched += b.size;
    } else summary.alreadyCached++;
  }
  return summary;
}

/** The names the resolver refuses (NAME_INVALID, an upstream not configured), before anything is fetched. */
export function unresolvableImages(resolver: RepositoryResolver, images: readonly ImageRef[]): string[] {
  const bad: string[] = [];
  for (const image of images) {
    try {
      resolver.target(image.name);
    } catch (err) {
      bad.push(`${image.text}: ${describe(err)}`);
    }
  }
  return bad;
}

function describe(err: unknown): string {
  if (isOciError(err)) return `${err.code}: ${err.message}`;
  return (err as Error)?.message ?? String(err);
}
