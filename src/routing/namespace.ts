import type { Metrics } from '../admin/metrics.js';
import { upstreamMetricsView, type UpstreamCounters, type UpstreamFailure } from '../admin/upstream-metrics.js';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/event-bus.js';
import { withEvents } from '../events/repository-events.js';
import type { Logger } from '../log/logger.js';
import { createBlobProxy, type SharedFill } from '../proxy/blobs.js';
import type { ClusterFills } from '../proxy/cluster-fills.js';
import { createManifestProxy } from '../proxy/manifests.js';
import { MirroredRepository } from '../proxy/mirrored-repository.js';
import { Prefetcher } from '../proxy/prefetch.js';
import { PrefetchPlatforms } from '../proxy/prefetch-platforms.js';
import { createTagsProxy } from '../proxy/tags.js';
import type { LocalRegistry } from '../registry/local-registry.js';
import { LocalRepository } from '../registry/local-repository.js';
import { createLocalRegistry } from '../registry/registry.js';
import type { AccessBatcher } from '../storage/access-batcher.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { UpstreamIndexStats } from '../storage/index-rows.js';
import type { StoragePorts } from '../storage/ports.js';
import type { UpstreamClient, UpstreamHealth } from '../upstream/client.js';
import { createRepositoryResolver, type MirrorTarget, type RepositoryResolver } from './resolve-repository.js';

export interface NamespaceParts {
  config: Config;
  ports: StoragePorts;
  access: AccessBatcher;
  store: BlobStore;
  /** The default upstream (docker.io): names without a registry host go here. */
  upstream: UpstreamClient;
  /** Every upstream, the default one among them (absent: the default one only). */
  upstreams?: readonly UpstreamClient[];
  metrics: Metrics;
  events: EventBus;
  log: Logger;
  now: () => number;
  /** Issue 12: hears of upstream failures (errors counted, fills failed), for the console's recent errors. */
  onUpstreamFailure?: (upstream: string, what: UpstreamFailure) => void;
  /** Issue 13: fill claims and peer streams across replicas (absent: cluster off). */
  cluster?: ClusterFills;
}

/** Every repository the mirror serves, local and mirrored, and what is in flight in them. */
export interface Namespace {
  /** Turns a name (and `?ns=`) into a Repository, wrapped so that it emits events. */
  resolver: RepositoryResolver;
  /** Local repositories the caller may list (the catalog spans repositories). */
  catalog: LocalRegistry['catalog'];
  fillsInProgress(): number;
  /** Issue 12: blob fills in flight (at most `limit`, 50 by default), for the console's live list. */
  fillsDetail(limit?: number): FillDetail[];
  uploadsInProgress(): number;
  /** Discards uploads untouched for storage.upload_expiry; resolves with how many. */
  expireUploads(): Promise<number>;
  /** Discards every open upload (shutdown). */
  closeUploads(): Promise<void>;
  /** Stops eager prefetch (shutdown, before the upstream closes): nothing queued starts, fills no client joined are cut. */
  stopPrefetch(): void;
  /** Eager prefetch now, for /admin/stats (the counters are in Metrics). */
  prefetchStats(): PrefetchStats;
  /** Per upstream name: requests, errors and bytes from it, its prefetch, and what the index holds of it (issue 10). */
  upstreamStats(): Promise<Record<string, UpstreamCounters & { prefetch: PrefetchStats; index: Omit<UpstreamIndexStats, 'upstream'>; health: UpstreamHealth }>>;
  /** Rate limit and endpoint breakers of every upstream, for /metrics. */
  upstreamHealth(): UpstreamHealth[];
  /** Forgets what is memoized of a mirrored repository's tags (after an admin evicted an image there). */
  forgetMirrored(cacheRepo: string): void;
  /** Issue 13: this replica's fill of a digest in progress, from any upstream (for the internal endpoint). */
  fillOf(digest: string): SharedFill | undefined;
}

/** A blob fill in flight: where it goes, how far it is. */
export interface FillDetail {
  upstream: string;
  /** The first repository that asked for it (others of the same upstream may follow it). */
  repository: string;
  digest: string;
  /** Bytes received from the upstream so far. */
  received: number;
  /** The blob's size, once the upstream said (Content-Length). */
  size: number | undefined;
  startedAt: number;
  prefetch: boolean;
}

/** The most fills listed at once: the list is for a person, and the count is in fillsInProgress. */
export const MAX_FILLS_DETAIL = 50;

/** What eager prefetch is doing, beside its counters (Metrics prefetch*). */
export interface PrefetchStats {
  inFlight: number;
  queued: number;
  /** Platforms learned from clients' pulls, oldest first. */
  learnedPlatforms: string[];
  configuredPlatforms: readonly string[];
  /** What the upstream last said is left of its rate limit (undefined: unknown). */
  rateLimitRemaining: number | undefined;
}

/**
 * The Namespace of Distribution's shape (Namespace → Repository → manifests, blobs, tags):
 * local namespaces are a plain registry (registry/), every other name is mirrored from its
 * upstream (proxy/), and both are the same Repository to the routes. Built once by the
 * composition root (core.ts).
 */
export function createNamespace(p: NamespaceParts): Namespace {
  const { config, ports, access, store, events, now } = p;
  const upstreams = p.upstreams ?? [p.upstream];
  const mirrorHost = p.upstream.config.name;
  const registry = createLocalRegistry({
    ports, access, store, now,
    uploads: {
      expiryMs: config.storage.uploadExpiryMs, maxUploads: config.storage.maxUploads, maxUploadsPerUser: config.storage.maxUploadsPerUser,
    },
    // Only default-routed names (no host prefix, no ?ns=) can be shadowed by a local push.
    shadowsMirror: async (name) => !config.local.allowShadowing && await ports.repositories.hasRepository(`${mirrorHost}/${name}`),
    isMirrorKey: (name) => upstreams.some((u) => name.startsWith(`${u.config.name}/`)),
  });
  // One MirroredRepository machinery per upstream: its own fills, prefetcher and counters.
  const mirrors = new Map(upstreams.map((u) => [u, createUpstreamMirror(p, u)] as const));
  const resolver = createRepositoryResolver(upstreams, config.local.namespaces, {
    local: (t) => withEvents(new LocalRepository(registry, t.name), events, { repository: t.cacheRepo, upstream: undefined }),
    mirror: (t) => withEvents(new MirroredRepository(mirrors.get(t.upstream)!.mirror, t), events, { repository: t.cacheRepo, upstream: t.upstream.config.name }),
  });
  const all = [...mirrors.values()];
  // Issue 13: a shared index (PostgreSQL) tells of tags other replicas moved; absent for SQLite.
  ports.tags.onTagChanged?.((c) => {
    for (const m of all) {
      if (c.all) m.mirror.manifests.pauseMemo(!c.listening);
      else m.mirror.manifests.forgetTag(c.repo, c.tag);
    }
  });
  const first = mirrors.get(p.upstream) ?? all[0]!;
  return {
    resolver,
    catalog: (n, last, visible) => registry.catalog(n, last, visible),
    fillsInProgress: () => all.reduce((sum, m) => sum + m.mirror.blobs.fills.size, 0),
    fillsDetail: (limit = MAX_FILLS_DETAIL) => {
      const out: FillDetail[] = [];
      const max = Math.max(0, Math.min(limit, MAX_FILLS_DETAIL));
      for (const m of all) {
        for (const shared of m.mirror.blobs.fills.values()) {
          if (out.length >= max) return out;
          out.push({
            upstream: m.upstream.config.name, repository: shared.repos.keys().next().value ?? '', digest: shared.fill.digest.value,
            received: shared.fill.received, size: shared.fill.size, startedAt: shared.startedAt, prefetch: shared.prefetched === true,
          });
        }
      }
      return out;
    },
    uploadsInProgress: () => registry.uploads.size,
    expireUploads: () => registry.expireUploads(),
    closeUploads: () => registry.uploads.closeAll(),
    stopPrefetch: () => {
      for (const m of all) {
        m.prefetcher.close();
        m.mirror.blobs.cancelPrefetches();
      }
    },
    // The default upstream's, as before issue 10; every upstream's in upstreamStats.
    prefetchStats: () => prefetchStatsOf(first),
    upstreamStats: async () => {
      const index = new Map((await ports.maintenance.upstreamStats()).map(({ upstream, ...rest }) => [upstream, rest]));
      return Object.fromEntries(all.map((m) => {
        const name = m.upstream.config.name;
        return [name, {
          ...p.metrics.byUpstream[name]!, prefetch: prefetchStatsOf(m),
          index: index.get(name) ?? { repositories: 0, blobLinks: 0, blobs: 0, blobBytes: 0 },
          health: m.upstream.health(),
        }];
      }));
    },
    upstreamHealth: () => all.map((m) => m.upstream.health()),
    forgetMirrored: (cacheRepo) => { for (const m of all) m.mirror.manifests.forget(cacheRepo); },
    fillOf: (digest) => {
      for (const m of all) {
        const shared = m.mirror.blobs.fills.get(`${m.upstream.config.name}@${digest}`);
        if (shared) return shared;
      }
      return undefined;
    },
  };
}

/** What one upstream's repositories are served by. */
interface UpstreamMirror {
  upstream: UpstreamClient;
  mirror: { manifests: ReturnType<typeof createManifestProxy>; blobs: ReturnType<typeof createBlobProxy>; tags: ReturnType<typeof createTagsProxy> };
  prefetcher: Prefetcher;
  platforms: PrefetchPlatforms;
}

function createUpstreamMirror(p: NamespaceParts, upstream: UpstreamClient): UpstreamMirror {
  const { config, ports, access, store, events, log, now } = p;
  const onFailure = p.onUpstreamFailure;
  const metrics = upstreamMetricsView(p.metrics, upstream.config.name, onFailure && ((what) => onFailure(upstream.config.name, what)));
  const blobs = createBlobProxy({ store, ports, access, metrics, events, log, now, ...(p.cluster ? { cluster: p.cluster } : {}) });
  const { prefetch, prefetchMinBudget, prefetchPlatforms } = upstream.config;
  const prefetcher = new Prefetcher({
    blob: (t, d) => blobs.prefetch(t, d),
    manifest: (t, d) => manifests.prefetch(t, d),
    limit: prefetch, minBudget: prefetchMinBudget, metrics, log,
  });
  const platforms = new PrefetchPlatforms(prefetchPlatforms);
  const manifests = createManifestProxy({
    ports, access, metrics, log, maxManifestBytes: config.storage.maxManifestBytes, now,
    ...(prefetch > 0 ? {
      onImageFetched: (t: MirrorTarget, d: string[]) => prefetcher.enqueue(t, d),
      onIndexFetched: (t: MirrorTarget, bytes: Buffer) => prefetcher.enqueueManifests(t, platforms.choose(bytes)),
      onDigestPulled: (digest: string) => platforms.noteClientPull(digest),
    } : {}),
  });
  const tags = createTagsProxy({ tags: ports.tags, metrics, log });
  return { upstream, mirror: { manifests, blobs, tags }, prefetcher, platforms };
}

function prefetchStatsOf(m: UpstreamMirror): PrefetchStats {
  return {
    inFlight: m.prefetcher.inFlight,
    queued: m.prefetcher.waiting,
    learnedPlatforms: m.platforms.learnedPlatforms,
    configuredPlatforms: m.upstream.config.prefetchPlatforms,
    rateLimitRemaining: m.upstream.rateLimit.remaining,
  };
}
