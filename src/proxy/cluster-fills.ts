import { setTimeout as sleep } from 'node:timers/promises';
import type { Metrics } from '../admin/metrics.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import type { BlobSource } from '../repository/repository.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { FillRows } from '../storage/pg-fills.js';
import type { LockSession } from '../storage/pg-lock-session.js';
import type { StoragePorts } from '../storage/ports.js';
import { verifyPeerRequest } from './cluster-auth.js';
import type { PeerClient } from './peer-client.js';
import { upstreamConfirms } from './upstream-confirms.js';

/** How long a replica that lost the claim looks for the owner's stream or the committed blob before fetching itself. */
export const CLAIM_WAIT_MS = 5000;
/** Pause between two looks. */
const CLAIM_STEP_MS = 200;
/** A lock session that does not answer this fast (a server gone silent) is treated as unreachable. */
const LOCK_TIMEOUT_MS = 3000;

/** The fill claim of one blob: hold it while the fill runs, release it once the fill settled. */
export interface FillClaim {
  /** 'alone': the lock session could not be reached; the fill runs unclaimed. */
  readonly kind: 'mine' | 'alone';
  release(): Promise<void>;
}

/** The advisory-lock space and key of a digest's fill (pg-lock-session.ts). */
export interface LockKeys {
  fill: number;
  key(digest: string): number;
}

/** What the blob proxy hands the cluster for one miss. */
export interface MissSteps {
  /** A fill of this replica for this blob (one started meanwhile by another client here). */
  local(): boolean;
  /** The blob's size when it is in the store now and may be served under this name. */
  fromDisk(): Promise<number | undefined>;
  /** Starts the local fill (holding `claim` until it settles, when given). */
  start(claim: FillClaim | undefined): void;
}

export type MissOutcome = { kind: 'local' } | { kind: 'hit'; size: number } | { kind: 'peer'; source: BlobSource };

export interface ClusterFillsDeps {
  cluster: NonNullable<Config['cluster']>;
  locks: LockSession;
  keys: LockKeys;
  rows: FillRows;
  peers: PeerClient;
  store: BlobStore;
  log: Logger;
}

/**
 * One upstream GET per blob across the replicas (issue 13). A replica about to fetch a blob
 * first takes its fill lock (a session advisory lock: a killed replica's lock goes with its
 * connection) and records itself in the fills row; a replica that finds the lock taken reads
 * the row and streams the bytes from that owner (only if it is one of cluster.peers and not
 * itself: the row is not trusted to name an address), else looks again — the owner's row,
 * then the store — for a few seconds before fetching the blob itself (a duplicate GET is safe:
 * every byte is verified). A lock session that cannot be reached never fails a pull: the
 * replica then fetches alone.
 */
export class ClusterFills {
  private readonly self: string;
  private readonly peerSet: ReadonlySet<string>;
  /** Holds of the fill lock on this replica, by digest. */
  private readonly held = new Map<string, number>();

  constructor(private readonly deps: ClusterFillsDeps) {
    this.self = deps.cluster.selfUrl;
    this.peerSet = new Set(deps.cluster.peers);
  }

  /** Does this request carry a valid signature of a replica (the internal endpoint's auth)? */
  verify(method: string, path: string, authorization: string | undefined): boolean {
    return verifyPeerRequest(this.deps.cluster.secret, method, path, authorization);
  }

  /** The claim of this blob's fill for this replica, or undefined when another replica holds it. */
  async claim(digest: string, repo: string): Promise<FillClaim | undefined> {
    const { locks, keys, rows, log } = this.deps;
    const key = keys.key(digest);
    let generation = locks.generation;
    try {
      const attempt = locks.tryLock(keys.fill, key);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), LOCK_TIMEOUT_MS); });
      const got = await Promise.race([attempt, late]).finally(() => clearTimeout(timer));
      if (got === 'late') {
        // A lock won after we gave up would be held for nothing: give it back when it comes.
        attempt.then((ok) => { if (ok) void locks.unlock(keys.fill, key, generation); }, () => {});
        throw new Error(`no answer within ${LOCK_TIMEOUT_MS} ms`);
      }
      if (!got) return undefined;
      generation = locks.generation;
    } catch (err) {
      log.warn('fill lock unavailable; fetching the blob without a cluster-wide claim', { digest, error: err });
      return { kind: 'alone', release: async () => {} };
    }
    // A session lock is re-entrant (two upstreams may fill one digest here): the row goes with the last hold.
    this.held.set(digest, (this.held.get(digest) ?? 0) + 1);
    try {
      await rows.put(digest, { ownerUrl: this.self, repo }, Date.now());
    } catch (err) {
      // Held but unnamed: the others wait, then fetch themselves. The pull goes on.
      log.warn('recording a fill claim failed', { digest, error: err });
    }
    let released = false;
    return {
      kind: 'mine',
      release: async () => {
        if (released) return;
        released = true;
        const left = (this.held.get(digest) ?? 1) - 1;
        if (left > 0) this.held.set(digest, left);
        else {
          this.held.delete(digest);
          // The row first: a replica that takes the lock next writes its own row.
          await rows.remove(digest, this.self).catch((err: unknown) => log.warn('removing a fill claim failed', { digest, error: err }));
        }
        await locks.unlock(keys.fill, key, generation);
      },
    };
  }

  /** The peer that claims this blob's fill, when it is a configured peer other than this replica. */
  async owner(digest: string): Promise<{ url: string; repo: string } | undefined> {
    const row = await this.deps.rows.get(digest).catch(() => undefined);
    if (!row || row.ownerUrl === this.self) return undefined;
    if (!this.peerSet.has(row.ownerUrl)) {
      this.deps.log.warn('a fill claim names an address outside cluster.peers; not dialled', { digest });
      return undefined;
    }
    return { url: row.ownerUrl, repo: row.repo };
  }

  /**
   * A miss of `digest` under `t`: a local fill (claimed, or after waiting in vain), a hit
   * (the owner committed meanwhile), or the owner's stream.
   */
  async miss(t: MirrorTarget, digest: Digest, steps: MissSteps, ctx: { metrics: Metrics; ports: Pick<StoragePorts, 'blobs' | 'repositories'>; now: () => number }): Promise<MissOutcome> {
    const { log } = this.deps;
    // The wall clock, not the deps' (tests freeze theirs).
    const deadline = performance.now() + CLAIM_WAIT_MS;
    for (;;) {
      if (steps.local()) return { kind: 'local' };
      const claim = await this.claimOnce(t, digest.value, steps);
      if (claim === 'started') return { kind: 'local' };
      const owner = await this.owner(digest.value);
      if (owner) {
        const source = await this.peerSource(owner, t, digest, ctx);
        if (source) return { kind: 'peer', source };
      }
      if (performance.now() >= deadline) break;
      await sleep(CLAIM_STEP_MS);
      const size = await steps.fromDisk();
      if (size !== undefined) return { kind: 'hit', size };
    }
    if (steps.local()) return { kind: 'local' };
    ctx.metrics.cluster.duplicateFills++;
    log.warn('another replica holds this blob\'s fill but could not stream it; fetching it from the upstream too', { repo: t.cacheRepo, digest: digest.value });
    steps.start(undefined);
    return { kind: 'local' };
  }

  /** Claims in flight on this replica, by repository and digest: local clients share one attempt. */
  private readonly claiming = new Map<string, Promise<'started' | 'taken'>>();

  private claimOnce(t: MirrorTarget, digest: string, steps: MissSteps): Promise<'started' | 'taken'> {
    const k = `${t.upstream.config.name}@${digest}`;
    let p = this.claiming.get(k);
    if (!p) {
      p = (async () => {
        const claim = await this.claim(digest, t.cacheRepo);
        if (!claim) return 'taken' as const;
        if (steps.local()) {
          await claim.release();
          return 'started' as const;
        }
        steps.start(claim);
        return 'started' as const;
      })().finally(() => this.claiming.delete(k));
      this.claiming.set(k, p);
    }
    return p;
  }

  /**
   * The owner's fill as this client's blob source (cache MISS), or undefined when the owner
   * has none. A repository other than the one the owner fetches for is served only once its
   * own upstream confirms the blob (as a local fill joined by another repository is).
   */
  private async peerSource(
    owner: { url: string; repo: string }, t: MirrorTarget, digest: Digest,
    ctx: { metrics: Metrics; ports: Pick<StoragePorts, 'blobs' | 'repositories'>; now: () => number },
  ): Promise<BlobSource | undefined> {
    const { peers, store, log } = this.deps;
    const { metrics, ports, now } = ctx;
    // Once the whole blob came, it is committed (the owner sends the last byte after its
    // index row): linked to this repository too, so its next pull here is a HIT.
    const link = async () => {
      try {
        await ports.repositories.ensureRepository(t.cacheRepo, 'mirror', t.upstream.config.name, now());
        await ports.blobs.linkBlob(t.cacheRepo, digest.value);
      } catch (err) {
        log.warn('linking a blob streamed from a replica failed', { repo: t.cacheRepo, digest: digest.value, error: err });
      }
    };
    const first = await peers.open(owner.url, digest.value, undefined, link);
    if (!first) return undefined;
    if (owner.repo !== t.cacheRepo) {
      const ok = await upstreamConfirms(t, 'blob', digest.value, metrics, first.size).catch((err: unknown) => { first.body.destroy(); throw err; });
      if (!ok) {
        first.body.destroy();
        throw new OciError('UPSTREAM_UNAVAILABLE', { message: 'upstream blob HEAD disagrees with its GET', detail: { digest: digest.value } });
      }
    }
    metrics.cluster.peerStreams++;
    log.debug('streaming a blob from the replica filling it', { peer: owner.url, digest: digest.value });
    let pending: typeof first.body | undefined = first.body;
    // Never opened (the client's request failed before its body): let the peer go.
    const timer = setTimeout(() => { pending?.destroy(); pending = undefined; }, 30_000);
    timer.unref();
    return {
      digest: digest.value, size: first.size, cache: 'MISS',
      open: async (range) => {
        const body = pending;
        pending = undefined;
        clearTimeout(timer);
        if (!range && body) return body;
        body?.destroy();
        const again = await peers.open(owner.url, digest.value, range, range ? undefined : link);
        if (again) return again.body;
        // The owner's fill ended meanwhile: committed, it is in the store (else BLOB_UNKNOWN).
        if (!(await store.stat(digest.value))) throw new OciError('BLOB_UNKNOWN', { detail: { digest: digest.value } });
        return store.open(digest.value, range);
      },
    };
  }

  /** Closes the peer connections (the lock session is the core's). */
  async close(): Promise<void> {
    await this.deps.peers.close();
  }
}
