import type { Readable } from 'node:stream';
import { OciError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { CacheStatus, Metrics } from '../admin/metrics.js';
import type { Logger } from '../log/logger.js';
import type { BlobStore, ByteRange } from '../storage/blob-store.js';
import type { RegistryIndex } from '../storage/registry-index.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';
import { BlobFill } from './blob-fill.js';
import { isTransientUpstreamFailure, upstreamStatusError } from './upstream-status.js';

/** A blob ready to be sent: its size (when known) and a way to open its bytes. */
export interface BlobSource {
  digest: string;
  /** Total size; undefined only for a fill whose upstream sent no Content-Length. */
  size: number | undefined;
  /** Mirrored content only: HIT or MISS (local content has no cache status). */
  cache?: CacheStatus;
  open(range?: ByteRange): Promise<Readable>;
  /** The complete, verified file on local disk, when there is one. */
  localPath?: string;
}

export interface BlobProxyDeps {
  store: BlobStore;
  index: RegistryIndex;
  metrics: Metrics;
  log: Logger;
  now?: () => number;
}

export interface BlobProxy {
  /** For GET: a cached blob, or one being fetched (started here if nobody else has). */
  get(target: MirrorTarget, digest: Digest): Promise<BlobSource>;
  /** For HEAD: what we know without fetching the bytes. */
  head(target: MirrorTarget, digest: Digest): Promise<{ size: number | undefined; cache: CacheStatus }>;
  /** Fills in progress, by digest. */
  readonly fills: ReadonlyMap<string, BlobFill>;
}

/**
 * Blobs through the mirror: immutable, so a blob on disk is served as it is; a missing
 * one is fetched once, however many clients ask at the same time (one BlobFill each).
 */
export function createBlobProxy(deps: BlobProxyDeps): BlobProxy {
  const { store, index, metrics, log } = deps;
  const now = deps.now ?? Date.now;
  const fills = new Map<string, BlobFill>();

  /** On disk already: served if this repository has it (asking upstream once if unsure). */
  async function fromDisk(t: MirrorTarget, digest: Digest): Promise<number | undefined> {
    const info = await store.stat(digest.value);
    if (!info) return undefined;
    const linked = index.hasRepoBlob(t.cacheRepo, digest.value);
    if (!linked) {
      // Another repository brought it: make sure this one has it upstream before
      // serving it here, so that a name never reveals another repository's content.
      try {
        metrics.upstreamRequests.blob_head++;
        const res = await t.upstream.blob('HEAD', t.upstreamRepo, digest.value);
        res.body.destroy();
        if (res.status !== 200) throw upstreamStatusError(res, 'BLOB_UNKNOWN', t.upstream.config.name);
      } catch (err) {
        if (!isTransientUpstreamFailure(err)) throw err;
        log.warn('upstream failed; serving blob known from another repository', { repo: t.cacheRepo, digest: digest.value, error: err });
      }
    }
    // Also repairs a file whose row was lost (a crash between rename and insert). A hit
    // that is already linked and indexed writes nothing: access is batched by touchBlob.
    if (!index.getBlob(digest.value)) index.putBlob(t.cacheRepo, { digest: digest.value, size: info.size, origin: 'upstream' }, now());
    else if (!linked) index.linkBlob(t.cacheRepo, digest.value);
    index.touchBlob(digest.value, now());
    return info.size;
  }

  function startFill(t: MirrorTarget, digest: Digest): BlobFill {
    const existing = fills.get(digest.value);
    if (existing) return existing;
    metrics.upstreamRequests.blob_get++;
    const fill = new BlobFill(
      digest,
      store,
      () => t.upstream.blob('GET', t.upstreamRepo, digest.value),
      (res) => upstreamStatusError(res, 'BLOB_UNKNOWN', t.upstream.config.name),
      {
        onBytes: (n) => { metrics.bytesFromUpstream += n; },
        onCommit: (info) => {
          index.ensureRepository(t.cacheRepo, 'mirror', t.upstream.config.name, now());
          index.putBlob(t.cacheRepo, { digest: info.digest, size: info.size, origin: 'upstream' }, now());
        },
      },
    );
    fills.set(digest.value, fill);
    fill.done.then(
      () => { metrics.fillsCompleted++; },
      (err: Error) => {
        metrics.fillsFailed++;
        log.warn('blob fill failed; nothing cached', { repo: t.cacheRepo, digest: digest.value, error: err });
      },
    ).finally(() => fills.delete(digest.value));
    return fill;
  }

  return {
    fills,

    async get(t, digest) {
      const size = await fromDisk(t, digest);
      if (size !== undefined) {
        return {
          digest: digest.value, size, cache: 'HIT', open: (range) => store.open(digest.value, range), localPath: store.localPath?.(digest.value),
        };
      }
      const fill = startFill(t, digest);
      await fill.ready;
      return { digest: digest.value, size: fill.size, cache: 'MISS', open: async (range) => fill.follow(range) };
    },

    async head(t, digest) {
      const size = await fromDisk(t, digest);
      if (size !== undefined) return { size, cache: 'HIT' };
      const fill = fills.get(digest.value);
      if (fill) {
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
