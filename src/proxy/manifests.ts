import { LRUCache } from 'lru-cache';
import { sha256Digest } from '../oci/digest.js';
import { OciError, isOciError } from '../oci/errors.js';
import { parseManifest } from '../oci/manifest.js';
import type { Reference } from '../oci/names.js';
import type { CacheStatus, Metrics } from '../admin/metrics.js';
import type { Logger } from '../log/logger.js';
import type { RegistryIndex } from '../storage/registry-index.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';
import { SingleFlight } from './single-flight.js';
import { isTransientUpstreamFailure, readLimited, upstreamStatusError } from './upstream-status.js';

export interface ManifestResult {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  cache: CacheStatus;
}

export interface ManifestProxyDeps {
  index: RegistryIndex;
  metrics: Metrics;
  log: Logger;
  maxManifestBytes: number;
  now?: () => number;
}

export interface ManifestProxy {
  get(target: MirrorTarget, ref: Reference): Promise<ManifestResult>;
  /** The cached manifest for a tag when it is still fresh (a HIT), without any I/O but the index. */
  peekFresh(target: MirrorTarget, tag: string): ManifestResult | undefined;
}

/** Manifest bytes kept in memory, by digest: immutable, so never stale. */
const MEMORY_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * Manifests through the mirror (DESIGN.md, pull-through rules):
 * - by digest: immutable; served from the index once seen in this repository;
 * - by tag: served while younger than the upstream's tag TTL, then revalidated with a
 *   HEAD (free against Docker Hub's rate limit) and fetched with GET only when the digest
 *   changed; when the upstream fails or rate-limits, the cached copy is served as STALE.
 * Concurrent requests for one repository+reference share one upstream exchange.
 */
export function createManifestProxy(deps: ManifestProxyDeps): ManifestProxy {
  const { index, metrics, log, maxManifestBytes } = deps;
  const now = deps.now ?? Date.now;
  const flights = new SingleFlight<ManifestResult>();

  const memory = new LRUCache<string, { mediaType: string; bytes: Buffer }>({
    maxSize: MEMORY_CACHE_BYTES, sizeCalculation: (v) => v.bytes.length + 200,
  });

  const cached = (digest: string, cache: CacheStatus): ManifestResult | undefined => {
    let entry = memory.get(digest);
    if (!entry) {
      const row = index.getManifest(digest);
      if (!row) return undefined;
      entry = { mediaType: row.mediaType, bytes: row.bytes };
      memory.set(digest, entry);
    }
    index.touchManifest(digest, now());
    return { digest, mediaType: entry.mediaType, bytes: entry.bytes, cache };
  };

  /**
   * Tags confirmed within their TTL, as the index has them. This proxy is the only writer
   * of mirrored tags and writes through (putTag, markTagChecked, deleteTag below), and an
   * entry is used only until its TTL runs out, which is as long as the mirror promises not
   * to ask anybody anyway; after that the index is read again.
   */
  const freshTags = new LRUCache<string, { digest: string; checkedAt: number }>({ max: 50_000 });
  const setTag = (t: MirrorTarget, tag: string, digest: string, at: number, fetched: boolean) => {
    if (fetched) index.putTag(t.cacheRepo, tag, digest, at);
    else index.markTagChecked(t.cacheRepo, tag, at);
    freshTags.set(`${t.cacheRepo}:${tag}`, { digest, checkedAt: at });
  };

  const peekFresh = (t: MirrorTarget, tag: string): ManifestResult | undefined => {
    const key = `${t.cacheRepo}:${tag}`;
    const ttl = t.upstream.config.tagTtlMs;
    let row = freshTags.get(key);
    if (!row || now() - row.checkedAt >= ttl) {
      row = index.getTag(t.cacheRepo, tag);
      if (!row || now() - row.checkedAt >= ttl) return undefined;
      freshTags.set(key, { digest: row.digest, checkedAt: row.checkedAt });
    }
    return cached(row.digest, 'HIT');
  };

  /** GET from upstream, verify, store. `reference` is a tag or a digest. */
  async function fetchAndStore(t: MirrorTarget, reference: string, tag?: string): Promise<ManifestResult> {
    metrics.upstreamRequests.manifest_get++;
    const res = await t.upstream.manifest('GET', t.upstreamRepo, reference);
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
      throw new OciError('UPSTREAM_UNAVAILABLE', {
        message: 'upstream manifest does not match its digest', detail: { expected: claimed, actual: digest },
      });
    }
    let parsed: ReturnType<typeof parseManifest>;
    try {
      parsed = parseManifest(bytes, res.headers['content-type']);
    } catch (err) {
      throw new OciError('UPSTREAM_UNAVAILABLE', { message: 'upstream sent an invalid manifest', detail: { digest }, cause: err });
    }
    const at = now();
    index.ensureRepository(t.cacheRepo, 'mirror', t.upstream.config.name, at);
    index.putManifest(t.cacheRepo, {
      digest, mediaType: parsed.mediaType, size: bytes.length, bytes, subject: parsed.subject, artifactType: parsed.artifactType,
      annotations: parsed.annotations ? JSON.stringify(parsed.annotations) : null,
    }, [...parsed.refs, ...(parsed.subject ? [{ child: parsed.subject, kind: 'subject' as const }] : [])], at);
    if (tag) setTag(t, tag, digest, at, true);
    return { digest, mediaType: parsed.mediaType, bytes, cache: 'MISS' };
  }

  async function byDigest(t: MirrorTarget, digest: string): Promise<ManifestResult> {
    if (index.hasRepoManifest(t.cacheRepo, digest)) {
      const hit = cached(digest, 'HIT');
      if (hit) return hit;
    }
    return flights.run(`${t.cacheRepo}@${digest}`, async () => {
      if (!index.getManifest(digest)) return fetchAndStore(t, digest);
      // Known from another repository: confirm this one has it too (a HEAD costs nothing).
      try {
        metrics.upstreamRequests.manifest_head++;
        const res = await t.upstream.manifest('HEAD', t.upstreamRepo, digest);
        res.body.destroy();
        if (res.status !== 200) throw upstreamStatusError(res, 'MANIFEST_UNKNOWN', t.upstream.config.name);
        index.putManifest(t.cacheRepo, index.getManifest(digest)!, [], now());
        return cached(digest, 'REVALIDATED')!;
      } catch (err) {
        if (!isTransientUpstreamFailure(err)) throw err;
        return stale(t, digest, err);
      }
    });
  }

  function stale(t: MirrorTarget, digest: string, err: unknown): ManifestResult {
    metrics.upstreamErrors++;
    log.warn('upstream failed; serving cached manifest', { repo: t.cacheRepo, digest, error: err });
    const result = cached(digest, 'STALE');
    if (!result) throw err;
    return result;
  }

  async function byTag(t: MirrorTarget, tag: string): Promise<ManifestResult> {
    const hit = peekFresh(t, tag);
    if (hit) return hit;
    return flights.run(`${t.cacheRepo}:${tag}`, async () => {
      const current = index.getTag(t.cacheRepo, tag);
      if (!current || !index.getManifest(current.digest)) return fetchAndStore(t, tag, tag);
      try {
        metrics.upstreamRequests.manifest_head++;
        const res = await t.upstream.manifest('HEAD', t.upstreamRepo, tag);
        res.body.destroy();
        if (res.status !== 200) throw upstreamStatusError(res, 'MANIFEST_UNKNOWN', t.upstream.config.name);
        if (res.headers['docker-content-digest'] === current.digest) {
          setTag(t, tag, current.digest, now(), false);
          return cached(current.digest, 'REVALIDATED')!;
        }
        return await fetchAndStore(t, tag, tag);
      } catch (err) {
        if (!isTransientUpstreamFailure(err)) {
          // The upstream says the tag is gone: so do we.
          if (isOciError(err) && err.code === 'MANIFEST_UNKNOWN') {
            index.deleteTag(t.cacheRepo, tag);
            freshTags.delete(`${t.cacheRepo}:${tag}`);
          }
          throw err;
        }
        return stale(t, current.digest, err);
      }
    });
  }

  return {
    peekFresh,
    get(target, ref) {
      return ref.kind === 'digest' ? byDigest(target, ref.digest.value) : byTag(target, ref.tag);
    },
  };
}
