import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { FillRows } from '../storage/pg-fills.js';
import { digestLockKey, LOCK_SPACE, type LockSession } from '../storage/pg-lock-session.js';
import { ClusterFills } from './cluster-fills.js';
import { createPeerClient } from './peer-client.js';

/**
 * The cluster's fill claims and peer streams (issue 13), built by createCore only when
 * cluster.* is on — through a dynamic import, since it loads pg. The claims live on the
 * replica's one lock session (core.ts), which the core closes; ClusterFills.close() closes
 * the peer connections.
 */
export function openCluster(cluster: NonNullable<Config['cluster']>, locks: LockSession, rows: FillRows, store: BlobStore, log: Logger): ClusterFills {
  return new ClusterFills({
    cluster, rows, store, log, locks,
    keys: { fill: LOCK_SPACE.fill, key: digestLockKey },
    peers: createPeerClient(cluster.secret, log),
  });
}
