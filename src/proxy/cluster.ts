import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { FillRows } from '../storage/pg-fills.js';
import { digestLockKey, LOCK_SPACE, openLockSession } from '../storage/pg-lock-session.js';
import { ClusterFills } from './cluster-fills.js';
import { createPeerClient } from './peer-client.js';

/**
 * The cluster's fill claims and peer streams (issue 13), built by createCore only when
 * cluster.* is on — through a dynamic import, since it loads pg. One lock session (its own
 * connection to index.url) per replica; closed with ClusterFills.close().
 */
export function openCluster(cluster: NonNullable<Config['cluster']>, indexUrl: string, rows: FillRows, store: BlobStore, log: Logger): ClusterFills {
  return new ClusterFills({
    cluster, rows, store, log,
    locks: openLockSession(indexUrl),
    keys: { fill: LOCK_SPACE.fill, key: digestLockKey },
    peers: createPeerClient(cluster.secret, log),
  });
}
