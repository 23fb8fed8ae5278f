import type { MaintenanceIndex } from '../storage/ports.js';
import type { RepoUsage } from '../storage/index-rows.js';
import { HOUR_MS } from './stats-recorder.js';

/** How many repositories the top lists name. */
export const TOP_REPOSITORIES = 10;
const DAY_MS = 24 * HOUR_MS;

type Results = { hit: number; miss: number; stale: number; revalidated: number };

/** Cache results and traffic over one period (issue 11). */
export interface CacheFigures {
  /** Manifest and blob pulls (GET and HEAD) together, by how they were answered. */
  hits: number;
  misses: number;
  stale: number;
  revalidated: number;
  /** Pulls answered from the cache (hit, revalidated, stale) over all pulls; null without pulls. */
  hitRatio: number | null;
  manifest: Results;
  blob: Results;
  /** Blob bytes sent to clients, received from upstreams, and the difference (never below 0): bandwidth saved. */
  bytesServed: number;
  bytesFromUpstream: number;
  bytesSaved: number;
  /** Per upstream name: requests sent, those that failed, blob bytes received. */
  upstreams: Record<string, { requests: number; errors: number; bytes: number }>;
}

/** The figures of a set of counters as stats-recorder.ts names them. */
export function figuresOf(c: Readonly<Record<string, number>>): CacheFigures {
  const v = (name: string) => c[name] ?? 0;
  const results = (kind: string): Results => ({
    hit: v(`${kind}.hit`), miss: v(`${kind}.miss`), stale: v(`${kind}.stale`), revalidated: v(`${kind}.revalidated`),
  });
  const manifest = results('manifest');
  const blob = results('blob');
  const hits = manifest.hit + blob.hit;
  const misses = manifest.miss + blob.miss;
  const stale = manifest.stale + blob.stale;
  const revalidated = manifest.revalidated + blob.revalidated;
  const total = hits + misses + stale + revalidated;
  const upstreams: CacheFigures['upstreams'] = {};
  for (const name of Object.keys(c)) {
    const m = /^upstream\.(.+)\.(requests|errors|bytes)$/.exec(name);
    if (!m) continue;
    upstreams[m[1]!] ??= { requests: 0, errors: 0, bytes: 0 };
    upstreams[m[1]!]![m[2] as 'requests'] = v(name);
  }
  const bytesServed = v('bytes.served');
  const bytesFromUpstream = v('bytes.upstream');
  return {
    hits, misses, stale, revalidated,
    hitRatio: total === 0 ? null : Math.round(((hits + revalidated + stale) / total) * 10_000) / 10_000,
    manifest, blob, bytesServed, bytesFromUpstream, bytesSaved: Math.max(0, bytesServed - bytesFromUpstream),
    upstreams,
  };
}

/**
 * What the cache holds and did, from the index alone: the same figures for /admin/stats
 * and `registry-mirror stats` (which runs without the server). Periods are whole hourly
 * buckets (UTC hours): "lastHour" is the current hour's bucket, "lastDay" it and the 23
 * before it.
 */
export interface CacheReport {
  disk: {
    /** Blob bytes, all and by origin; manifest bytes (kept in the index). */
    blobBytes: number;
    mirrored: number;
    pushed: number;
    manifestBytes: number;
    /** Blob bytes referenced by each upstream's mirrored repositories (a blob shared by two counts for both). */
    byUpstream: Record<string, number>;
  };
  counts: { blobs: number; manifests: number; tags: number; repositories: number };
  lastHour: CacheFigures;
  lastDay: CacheFigures;
  /** Since the index was created (or since issue 11's migration). */
  allTime: CacheFigures;
  topRepositories: { byBytes: RepoUsage[]; byPulls: RepoUsage[] };
  /** Least recent access of any blob or manifest (ISO 8601); null when empty. */
  oldestAccess: string | null;
}

/** Builds the report from the index; `now` places the hour and day windows. */
export async function cacheReport(index: MaintenanceIndex, now: number): Promise<CacheReport> {
  const bucket = (t: number) => t - (((t % HOUR_MS) + HOUR_MS) % HOUR_MS);
  const [stats, ups, contents, hour, day, all] = await Promise.all([
    index.stats(), index.upstreamStats(), index.cacheContents(TOP_REPOSITORIES),
    index.sumStats(bucket(now)), index.sumStats(bucket(now) - DAY_MS + HOUR_MS), index.sumStats(),
  ]);
  return {
    disk: {
      blobBytes: stats.blobBytes, ...contents.bytesByOrigin, manifestBytes: contents.manifestBytes,
      byUpstream: Object.fromEntries(ups.map((u) => [u.upstream, u.blobBytes])),
    },
    counts: { blobs: stats.blobs, manifests: stats.manifests, tags: stats.tags, repositories: stats.repositories },
    lastHour: figuresOf(hour), lastDay: figuresOf(day), allTime: figuresOf(all),
    topRepositories: { byBytes: contents.topByBytes, byPulls: contents.topByPulls },
    oldestAccess: contents.oldestAccess === null ? null : new Date(contents.oldestAccess).toISOString(),
  };
}
