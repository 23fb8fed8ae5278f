import { LRUCache } from 'lru-cache';
import { ManifestMemo, type Served } from './manifest-memo.js';
import { sha256Digest } from '../oci/digest.js';
import { OciError, isOciError } from '../oci/errors.js';
import { servedMediaType } from '../oci/manifest.js';
import { ingestManifest, type IngestedManifest } from '../repository/manifest-ingest.js';
import type { Reference } from '../oci/names.js';
import type { CacheStatus, Metrics } from '../admin/metrics.js';
import type { Logger } from '../log/logger.js';
import type { AccessBatcher } from '../storage/access-batcher.js';
import type { StoragePorts } from '../storage/ports.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';
import { DEFAULT_REVALIDATE_MIN_BUDGET } from '../upstream/rate-limit-budget.js';
import { Background } from '../upstream/slots.js';
import { SingleFlight } from './single-flight.js';
import { upstreamConfirms } from './upstream-confirms.js';
import { isTransientUpstreamFailure, readLimited, upstreamStatusError } from './upstream-status.js';

export interface ManifestResult {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  cache: CacheStatus;
}

export interface ManifestProxyDeps {
  ports: Pick<StoragePorts, 'tags' | 'manifests' | 'repositories'>;
  /** Where manifest accesses are noted (written in batches). */
  access: Pick<AccessBatcher, 'touchManifest'>;
  metrics: Metrics;
  log: Logger;
  maxManifestBytes: number;
  now?: () => number;
  /**
   * Told the config and layer digests of each image manifest fetched from the upstream
   * (a miss or a changed tag, never a cache hit): eager prefetch (proxy/prefetch.ts).
   */
  onImageFetched?: (target: MirrorTarget, blobs: string[]) => void;
  /**
   * Told the bytes of each index fetched from the upstream for a client (not for a
   * prefetch): eager prefetch chooses which platform manifests to fetch (prefetch-platforms.ts).
   */
  onIndexFetched?: (target: MirrorTarget, bytes: Buffer) => void;
  /** Told each manifest digest a client asks for (GET or HEAD): prefetch learns platforms. */
  onDigestPulled?: (digest: string) => void;
}

export interface ManifestProxy {
  get(target: MirrorTarget, ref: Reference): Promise<ManifestResult>;
  /**
   * The cached manifest for a tag when the memo holds it fresh and its bytes are in memory
   * (a HIT): synchronous, no I/O at all. Undefined otherwise; get() then reads the index.
   */
  peekFresh(target: MirrorTarget, tag: string): ManifestResult | undefined;
  /**
   * Eager prefetch of a platform manifest of an index fetched for `target`: fetched and
   * cached like a client's GET by digest (joining one in flight, never a second GET), its
   * upstream request yielding to client requests until a client asks for it too.
   * Resolves when done (at once when the repository has it).
   */
  prefetch(target: MirrorTarget, digest: string): Promise<void>;
  /** Forgets the repository's memoized tags (an image evicted on purpose): the next pull reads the index. */
  forget(cacheRepo: string): void;
  /** Issue 13: forgets one memoized tag (another replica moved it), or every one (`tag` undefined: changes may have been missed). */
  forgetTag(cacheRepo: string | undefined, tag?: string): void;
  /** Issue 13: forgets every memoized tag and, while `paused` (the replica cannot hear others' changes), memoizes none. */
  pauseMemo(paused: boolean): void;
}

/** Manifest bytes kept in memory, by digest: immutable, so never stale. */
const MEMORY_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * Manifests through the mirror (DESIGN.md, pull-through rules):
 * - by digest: immutable; served from the index once seen in this repository (byDigest);
 * - by tag: served while younger than the upstream's tag TTL, then revalidated with a
 *   HEAD (free against Docker Hub's rate limit) and fetched with GET only when the digest
 *   changed; when the upstream fails or rate-limits, the cached copy is served as STALE.
 * Concurrent requests for one repository+reference share one upstream exchange.
 */
export function createManifestProxy(deps: ManifestProxyDeps): ManifestProxy {
  const { ports: { tags, manifests, repositories }, access, metrics, log, maxManifestBytes } = deps;
  const now = deps.now ?? Date.now;
  const flights = new SingleFlight<ManifestResult>();
  /** Prefetches by flight key: a client asking for the same manifest promotes its upstream request. */
  const backgrounds = new Map<string, Background>();

  /**
   * Manifest bytes by `digest mediaType` (Served.key). The media type is part of the key
   * because response headers are prepared per Buffer (http/respond.ts manifestHeaders): two
   * repositories serving one digest with different types must not share a Buffer.
   */
  const memory = new LRUCache<string, Buffer>({ maxSize: MEMORY_CACHE_BYTES, sizeCalculation: (b) => b.length + 200 });

  const servedAs = (digest: string, stored: string): Served => {
    const mediaType = servedMediaType(stored);
    return { digest, mediaType, key: `${digest} ${mediaType}` };
  };
  /** The link of repo to the manifest; undefined when repo does not have it (never served then). */
  const served = async (repo: string, digest: string): Promise<Served | undefined> => {
    const stored = await manifests.repoManifestType(repo, digest);
    return stored === undefined ? undefined : servedAs(digest, stored);
  };

  /** The result when the bytes are in memory: no I/O. */
  const fromMemory = (s: Served, cache: CacheStatus): ManifestResult | undefined => {
    const bytes = memory.get(s.key);
    if (!bytes) return undefined;
    access.touchManifest(s.digest, now());
    return { digest: s.digest, mediaType: s.mediaType, bytes, cache };
  };

  const load = async (s: Served, cache: CacheStatus): Promise<ManifestResult | undefined> => {
    const hit = fromMemory(s, cache);
    if (hit) return hit;
    const row = await manifests.getManifest(s.digest);
    if (!row) return undefined;
    memory.set(s.key, row.bytes);
    access.touchManifest(s.digest, now());
    return { digest: s.digest, mediaType: s.mediaType, bytes: row.bytes, cache };
  };

  const cached = async (repo: string, digest: string, cache: CacheStatus): Promise<ManifestResult | undefined> => {
    const s = await served(repo, digest);
    return s && load(s, cache);
  };

  /** The memo of fresh tags (proxy/manifest-memo.ts), written through by setTag and deleteTag. */
  const memo = new ManifestMemo(now);
  const setTag = async (t: MirrorTarget, tag: string, s: Served, at: number, fetched: boolean) => {
    if (fetched) await tags.putTag(t.cacheRepo, tag, s.digest, at);
    else await tags.markTagChecked(t.cacheRepo, tag, at);
    memo.set(`${t.cacheRepo}:${tag}`, s, at);
  };

  // The hot path: a memo hit whose bytes are in memory is answered without awaiting anything.
  const peekFresh = (t: MirrorTarget, tag: string): ManifestResult | undefined => {
    const s = memo.get(`${t.cacheRepo}:${tag}`, t.upstream.config.tagTtlMs);
    return s && fromMemory(s, 'HIT');
  };

  /** GET from upstream, verify, store. `reference` is a tag or a digest. */
  async function fetchAndStore(t: MirrorTarget, reference: string, tag?: string, background?: Background): Promise<ManifestResult> {
    metrics.upstreamRequests.manifest_get++;
    if (background) metrics.prefetchManifests++;
    const res = await t.upstream.manifest('GET', t.upstreamRepo, reference, background ? { background } : undefined);
    if (res.status !== 200) {
      res.body.destroy();
      throw upstreamStatusError(res, 'MANIFEST_UNKNOWN', t.upstream.config.name);
    }
    let bytes: Buffer;
    try {
      bytes = await readLimited(res.body, maxManifestBytes);
    } catch (err) {
      const message = isOciError(err) ? 'upstream manifest exceeds the size limit' : 'upstream manifest transfer failed';
      throw new OciError('UPSTREAM_UNAVAILABLE', { message, detail: { limit: maxManifestBytes }, cause: err });
    }
    const digest = sha256Digest(bytes);
    const claimed = tag ? res.headers['docker-content-digest'] : reference;
    if (claimed && claimed.startsWith('sha256:') && claimed !== digest) {
      // Wrong bytes: that endpoint is skipped for a while, so a retry goes to the next one.
      res.badContent?.();
      throw new OciError('UPSTREAM_UNAVAILABLE', {
        message: 'upstream manifest does not match its digest', detail: { expected: claimed, actual: digest },
      });
    }
    let ingested: IngestedManifest;
    try {
      ingested = ingestManifest(bytes, res.headers['content-type'], digest);
    } catch (err) {
      throw new OciError('UPSTREAM_UNAVAILABLE', { message: 'upstream sent an invalid manifest', detail: { digest }, cause: err });
    }
    const at = now();
    const mediaType = ingested.manifest.mediaType;
    await repositories.ensureRepository(t.cacheRepo, 'mirror', t.upstream.config.name, at);
    await manifests.putManifest(t.cacheRepo, ingested.row, ingested.refs, at);
    const s = servedAs(digest, mediaType);
    // Kept in memory at once: the memo answers the next request without reading the index.
    memory.set(s.key, bytes);
    if (tag) await setTag(t, tag, s, at, true);
    if (deps.onImageFetched) {
      const blobs = ingested.refs.filter((r) => r.kind === 'config' || r.kind === 'layer').map((r) => r.child);
      if (blobs.length > 0) deps.onImageFetched(t, blobs);
    }
    // Only an index a client asked for: a prefetched child that is an index goes no deeper.
    if (deps.onIndexFetched && !background && ingested.refs.some((r) => r.kind === 'manifest')) deps.onIndexFetched(t, bytes);
    return { digest, mediaType, bytes, cache: 'MISS' };
  }

  /**
   * By digest, failing closed (issue 7): served when this repository has it; when it was
   * fetched from this upstream for another repository, linked here once the upstream
   * confirms it (HEAD 200 with the same digest); otherwise — pushed content included —
   * fetched and verified like any miss. Never served stale: this repository did not have it.
   */
  async function byDigest(t: MirrorTarget, digest: string, background?: Background): Promise<ManifestResult> {
    const hit = await cached(t.cacheRepo, digest, 'HIT');
    if (hit) return hit;
    const key = `${t.cacheRepo}@${digest}`;
    if (!background && backgrounds.size > 0) backgrounds.get(key)?.promote();
    return flights.run(key, async () => {
      // Again inside the flight: one that ended during the await above may have linked it.
      const linked = await cached(t.cacheRepo, digest, 'HIT');
      if (linked) return linked;
      const upstream = t.upstream.config.name;
      const known = await manifests.mirroredManifestType(upstream, digest);
      const row = known === undefined ? undefined : await manifests.getManifest(digest);
      if (known === undefined || !row || !(await upstreamConfirms(t, 'manifest', digest, metrics))) return fetchAndStore(t, digest, undefined, background);
      await repositories.ensureRepository(t.cacheRepo, 'mirror', upstream, now());
      await manifests.putManifest(t.cacheRepo, { ...row, mediaType: known }, [], now());
      return (await cached(t.cacheRepo, digest, 'REVALIDATED'))!;
    });
  }

  /** Only what this repository already had (a tag of it) is ever served stale. */
  async function stale(t: MirrorTarget, digest: string, err: unknown): Promise<ManifestResult> {
    metrics.upstreamErrors++;
    log.warn('upstream failed; serving cached manifest', { repo: t.cacheRepo, digest, error: err });
    const result = await cached(t.cacheRepo, digest, 'STALE');
    if (!result) throw err;
    return result;
  }

  const lowBudget = (t: MirrorTarget): boolean => {
    const min = t.upstream.config.revalidateMinBudget ?? DEFAULT_REVALIDATE_MIN_BUDGET;
    return t.upstream.rateLimit.isLow(min);
  };

  async function byTag(t: MirrorTarget, tag: string): Promise<ManifestResult> {
    const hit = peekFresh(t, tag);
    if (hit) return hit;
    // Entered synchronously, so concurrent misses share the index read and any upstream call.
    return flights.run(`${t.cacheRepo}:${tag}`, async () => {
      const current = await tags.getTag(t.cacheRepo, tag);
      const had = current && await served(t.cacheRepo, current.digest);
      if (!current || !had) return fetchAndStore(t, tag, tag);
      if (now() - current.checkedAt < t.upstream.config.tagTtlMs) {
        // Fresh in the index (the memo forgot it, or a restart): a HIT, remembered again.
        memo.set(`${t.cacheRepo}:${tag}`, had, current.checkedAt);
        const fresh = await load(had, 'HIT');
        if (fresh) return fresh;
      }
      if (lowBudget(t)) {
        // Revalidating would spend what is left of the upstream's rate limit; a tag past its
        // TTL is served as it is (STALE, with the Warning header) until the budget recovers.
        const result = await load(had, 'STALE');
        if (result) return result;
      }
      try {
        metrics.upstreamRequests.manifest_head++;
        const res = await t.upstream.manifest('HEAD', t.upstreamRepo, tag);
        res.body.destroy();
        if (res.status !== 200) throw upstreamStatusError(res, 'MANIFEST_UNKNOWN', t.upstream.config.name);
        if (res.headers['docker-content-digest'] === current.digest) {
          await setTag(t, tag, had, now(), false);
          const result = await load(had, 'REVALIDATED');
          if (result) return result;
        }
        return await fetchAndStore(t, tag, tag);
      } catch (err) {
        if (!isTransientUpstreamFailure(err)) {
          // The upstream says the tag is gone: so do we.
          if (isOciError(err) && err.code === 'MANIFEST_UNKNOWN') {
            memo.delete(`${t.cacheRepo}:${tag}`);
            await tags.deleteTag(t.cacheRepo, tag);
          }
          throw err;
        }
        return stale(t, current.digest, err);
      }
    });
  }

  return {
    peekFresh,
    forget: (cacheRepo) => memo.deleteRepository(cacheRepo),
    pauseMemo: (paused) => memo.pause(paused),
    forgetTag: (cacheRepo, tag) => {
      if (cacheRepo === undefined) memo.clear();
      else if (tag === undefined) memo.deleteRepository(cacheRepo);
      else memo.delete(`${cacheRepo}:${tag}`);
    },
    get(target, ref) {
      if (ref.kind === 'tag') return byTag(target, ref.tag);
      deps.onDigestPulled?.(ref.digest.value);
      return byDigest(target, ref.digest.value);
    },
    async prefetch(target, digest) {
      // Already this repository's: nothing to fetch (and no access noted: no client asked).
      if (await served(target.cacheRepo, digest)) return;
      const key = `${target.cacheRepo}@${digest}`;
      const background = new Background();
      backgrounds.set(key, background);
      try {
        await byDigest(target, digest, background);
      } finally {
        if (backgrounds.get(key) === background) backgrounds.delete(key);
      }
    },
  };
}
