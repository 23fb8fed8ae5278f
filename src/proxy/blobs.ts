import { OciError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { CacheStatus, Metrics } from '../admin/metrics.js';
import type { EventBus } from '../events/event-bus.js';
import type { Logger } from '../log/logger.js';
import type { BlobSource } from '../repository/repository.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { AccessBatcher } from '../storage/access-batcher.js';
import type { StoragePorts } from '../storage/ports.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';
import type { UpstreamResponse } from '../upstream/client.js';
import { Background } from '../upstream/slots.js';
import { BlobFill } from './blob-fill.js';
import type { ClusterFills, FillClaim } from './cluster-fills.js';
import { upstreamConfirms } from './upstream-confirms.js';
import { upstreamStatusError } from './upstream-status.js';

export type { BlobSource } from '../repository/repository.js';

export interface BlobProxyDeps {
  store: BlobStore;
  ports: Pick<StoragePorts, 'blobs' | 'repositories'>;
  /** Where blob accesses (hits) are noted (written in batches). */
  access: Pick<AccessBatcher, 'touchBlob'>;
  metrics: Metrics;
  /** Announces blob.filled for each repository a fill is committed to. */
  events?: EventBus;
  log: Logger;
  now?: () => number;
  /** Issue 13: one upstream GET per blob across replicas (absent: cluster off, the single-node path as it was). */
  cluster?: ClusterFills;
}

export interface BlobProxy {
  /** For GET: a cached blob, or one being fetched (started here if nobody else has). */
  get(target: MirrorTarget, digest: Digest): Promise<BlobSource>;
  /** For HEAD: what we know without fetching the bytes. */
  head(target: MirrorTarget, digest: Digest): Promise<{ size: number | undefined; cache: CacheStatus }>;
  /** Fills in progress, by upstream and digest (fillKey). */
  readonly fills: ReadonlyMap<string, SharedFill>;
  /**
   * Starts a fill of this blob for this repository ahead of any client (proxy/prefetch.ts),
   * unless the blob is on disk or already filling; resolves with the fill's outcome, or
   * undefined when nothing was started.
   */
  prefetch(target: MirrorTarget, digest: Digest): Promise<{ done: Promise<void> } | undefined>;
  /** Cuts prefetch fills no client has joined (shutdown): they fail, nothing is cached. */
  cancelPrefetches(): void;
}

/** One fill per upstream and digest: repositories of that upstream share it once confirmed. */
const fillKey = (t: MirrorTarget, digest: Digest) => `${t.upstream.config.name}@${digest.value}`;

/** A fill in progress and the repositories (of its upstream) whose clients follow it. */
export interface SharedFill {
  fill: BlobFill;
  repos: Map<string, MirrorTarget>;
  /** Started by a prefetch and not yet asked for by a client. */
  prefetched?: boolean;
  /** Cuts a prefetch fill's upstream transfer. */
  cancel?: () => void;
  /** A prefetch's upstream request: promoted when a client joins, so it stops yielding to other clients. */
  background?: Background;
  /** When the fill started (the clock of the deps): the console's bytes/s. */
  startedAt: number;
}

/** Prefetched blobs remembered until a client asks (a prefetch hit); a hint, so bounded. */
const MAX_PREFETCHED = 4096;

/**
 * Blobs through the mirror: immutable, so a blob on disk is served as it is; a missing
 * one is fetched once, however many clients ask at the same time (one BlobFill each).
 */
export function createBlobProxy(deps: BlobProxyDeps): BlobProxy {
  const { store, ports: { blobs, repositories }, access, metrics, log } = deps;
  const now = deps.now ?? Date.now;
  const fills = new Map<string, SharedFill>();
  /** fillKey of prefetched blobs committed and not yet asked for (insertion order: oldest first). */
  const prefetched = new Set<string>();

  /**
   * The size of a blob on disk that may be served under this mirrored name, or undefined
   * when its bytes must come from the upstream (a fill, verified). Fails closed, so that a
   * mirrored name never reveals local (pushed) content nor another repository's:
   * - linked to this repository: served;
   * - fetched from this upstream for another repository: served once the upstream
   *   confirms it for this one (HEAD 200, same digest, same length), and only then
   *   linked; an upstream failure is the client's error, never a reason to serve it;
   * - otherwise (pushed only, or a file whose row was lost): a miss.
   */
  async function fromDisk(t: MirrorTarget, digest: Digest): Promise<number | undefined> {
    // One await on a hit: the file, the row and the link are asked at the same time.
    const [info, row, linked] = await Promise.all([
      store.stat(digest.value), blobs.getBlob(digest.value), blobs.hasRepoBlob(t.cacheRepo, digest.value),
    ]);
    if (!info || !row) return undefined;
    if (!linked) {
      const upstream = t.upstream.config.name;
      if (!(await blobs.hasMirroredBlob(upstream, digest.value)) || !(await upstreamConfirms(t, 'blob', digest.value, metrics, info.size))) return undefined;
      await repositories.ensureRepository(t.cacheRepo, 'mirror', upstream, now());
      await blobs.linkBlob(t.cacheRepo, digest.value);
    }
    // A hit writes nothing: access is batched by touchBlob.
    access.touchBlob(digest.value, now());
    return info.size;
  }

  /**
   * The fill that brings this blob for this repository: a new one, or one already running
   * for another repository of the same upstream — joined only once the upstream confirms
   * the blob for this repository too (a HEAD, free against rate limits), so that one blob
   * costs one upstream GET however many repositories ask, and a name never streams bytes
   * its upstream did not confirm for it. Every joined repository is linked at commit.
   */
  async function fillFor(t: MirrorTarget, digest: Digest): Promise<BlobFill> {
    const shared = fills.get(fillKey(t, digest));
    if (!shared) return startFill(t, digest).fill;
    if (shared.repos.has(t.cacheRepo)) return shared.fill;
    await shared.fill.ready;
    if (!(await upstreamConfirms(t, 'blob', digest.value, metrics, shared.fill.size))) {
      throw new OciError('UPSTREAM_UNAVAILABLE', { message: 'upstream blob HEAD disagrees with its GET', detail: { digest: digest.value } });
    }
    shared.repos.set(t.cacheRepo, t);
    // The fill may have committed during the HEAD, before this repository joined its list.
    // Idempotent writes: whether onCommit linked it too does not matter. A failed fill
    // links nothing (and is logged where it fails).
    void shared.fill.done.then(async () => {
      try {
        await repositories.ensureRepository(t.cacheRepo, 'mirror', t.upstream.config.name, now());
        await blobs.linkBlob(t.cacheRepo, digest.value);
      } catch (err) {
        log.warn('linking a joined blob fill failed', { repo: t.cacheRepo, digest: digest.value, error: err });
      }
    }, () => {});
    return shared.fill;
  }

  function startFill(t: MirrorTarget, digest: Digest, onResponse?: (res: UpstreamResponse) => void, background?: Background, claim?: FillClaim): SharedFill {
    const key = fillKey(t, digest);
    metrics.upstreamRequests.blob_get++;
    const repos = new Map([[t.cacheRepo, t]]);
    const opts = background ? { background } : undefined;
    const fill = new BlobFill(
      digest,
      store,
      onResponse
        ? async () => { const res = await t.upstream.blob('GET', t.upstreamRepo, digest.value, opts); onResponse(res); return res; }
        : () => t.upstream.blob('GET', t.upstreamRepo, digest.value),
      (res) => upstreamStatusError(res, 'BLOB_UNKNOWN', t.upstream.config.name),
      {
        onBytes: (n) => { metrics.bytesFromUpstream += n; },
        onCommit: async (info) => {
          for (const r of repos.values()) {
            await repositories.ensureRepository(r.cacheRepo, 'mirror', r.upstream.config.name, now());
            await blobs.putBlob(r.cacheRepo, { digest: info.digest, size: info.size, origin: 'upstream' }, now());
            deps.events?.emit('blob.filled', { repository: r.cacheRepo, digest: info.digest, size: info.size, upstream: r.upstream.config.name, cache: 'MISS' });
          }
        },
      },
    );
    const shared: SharedFill = background ? { fill, repos, background, startedAt: now() } : { fill, repos, startedAt: now() };
    fills.set(key, shared);
    fill.done.then(
      () => { metrics.fillsCompleted++; },
      (err: Error) => {
        metrics.fillsFailed++;
        log.warn('blob fill failed; nothing cached', { repo: t.cacheRepo, digest: digest.value, error: err });
      },
    ).finally(() => {
      fills.delete(key);
      // Committed (blob and row visible) or failed: the cluster-wide claim goes (issue 13).
      if (claim) void claim.release();
    });
    return shared;
  }

  /** A blob in the store, served as a hit. */
  const hit = (digest: Digest, size: number): BlobSource => ({
    digest: digest.value, size, cache: 'HIT', open: (range) => store.open(digest.value, range), localPath: store.localPath?.(digest.value),
  });

  return {
    fills,

    async prefetch(t, digest) {
      const key = fillKey(t, digest);
      if (fills.has(key) || await store.stat(digest.value)) return undefined;
      // Again after the await: a client may have started it meanwhile.
      if (fills.has(key)) return undefined;
      // Issue 13: a blob another replica is fetching is not prefetched here.
      let claim: FillClaim | undefined;
      if (deps.cluster) {
        claim = await deps.cluster.claim(digest.value, t.cacheRepo);
        if (!claim) return undefined;
        if (fills.has(key)) { void claim.release(); return undefined; }
      }
      metrics.prefetchesStarted++;
      // Cancellable at shutdown: the body is cut with an error, so the fill fails cleanly.
      let cancelled = false;
      let body: UpstreamResponse['body'] | undefined;
      const cut = () => body?.destroy(new OciError('UPSTREAM_UNAVAILABLE', { message: 'prefetch cancelled', detail: { digest: digest.value } }));
      const shared = startFill(t, digest, (res) => { body = res.body; if (cancelled) cut(); }, new Background(), claim);
      shared.prefetched = true;
      shared.cancel = () => { cancelled = true; cut(); };
      const done = shared.fill.done.then(() => {
        if (!shared.prefetched) return;
        prefetched.add(key);
        if (prefetched.size > MAX_PREFETCHED) prefetched.delete(prefetched.values().next().value!);
      });
      return { done };
    },

    cancelPrefetches() {
      for (const shared of fills.values()) if (shared.prefetched) shared.cancel?.();
    },

    async get(t, digest) {
      let size = await fromDisk(t, digest);
      // No fill running: one may have committed (and left the map) while fromDisk awaited,
      // after it looked. Look again, or this would be a second upstream GET of the blob.
      if (size === undefined && !fills.has(fillKey(t, digest))) size = await fromDisk(t, digest);
      if (size !== undefined) {
        // A prefetch hit, counted once per blob; the key is built only while prefetched
        // blobs wait for a client, so the usual hit path allocates nothing more.
        if (prefetched.size > 0 && prefetched.delete(fillKey(t, digest))) metrics.prefetchHits++;
        return hit(digest, size);
      }
      if (deps.cluster) {
        const key = fillKey(t, digest);
        const r = fills.has(key) ? undefined : await deps.cluster.miss(t, digest, {
          local: () => fills.has(key),
          fromDisk: () => fromDisk(t, digest),
          start: (claim) => { startFill(t, digest, undefined, undefined, claim); },
        }, { metrics, ports: deps.ports, now });
        if (r?.kind === 'peer') return r.source;
        if (r?.kind === 'hit') return hit(digest, r.size);
      }
      const shared = fills.get(fillKey(t, digest));
      if (shared?.prefetched && shared.repos.has(t.cacheRepo)) {
        shared.prefetched = false;
        metrics.prefetchHits++;
      }
      // A client now waits for it: a prefetch still queued for an upstream slot stops yielding.
      shared?.background?.promote();
      const fill = await fillFor(t, digest);
      await fill.ready;
      return { digest: digest.value, size: fill.size, cache: 'MISS', open: async (range) => fill.follow(range) };
    },

    async head(t, digest) {
      const size = await fromDisk(t, digest);
      if (size !== undefined) return { size, cache: 'HIT' };
      const shared = fills.get(fillKey(t, digest));
      if (shared?.repos.has(t.cacheRepo)) {
        const fill = shared.fill;
        await fill.ready;
        return { size: fill.size, cache: 'MISS' };
      }
      metrics.upstreamRequests.blob_head++;
      const res = await t.upstream.blob('HEAD', t.upstreamRepo, digest.value);
      res.body.destroy();
      if (res.status !== 200) throw upstreamStatusError(res, 'BLOB_UNKNOWN', t.upstream.config.name);
      const length = res.headers['content-length'];
      if (length === undefined || !/^\d+$/.test(length)) {
        throw new OciError('UPSTREAM_UNAVAILABLE', { message: 'upstream blob HEAD without Content-Length', detail: { digest: digest.value } });
      }
      return { size: Number(length), cache: 'MISS' };
    },
  };
}
