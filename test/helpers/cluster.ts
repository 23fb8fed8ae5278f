/**
 * Issue 13: several mirror replicas in-process, each on its own free 127.0.0.1 port and
 * temp data dir, all on one S3 bucket/prefix and one PostgreSQL database, with cluster.*
 * naming them all. Built by the same composition root as `serve` (createCore + createApp),
 * configured by MIRROR_* variables as a user would.
 */
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Core } from '../../src/core.js';
import { createCore } from '../../src/core.js';
import { createApp } from '../../src/http/app.js';
import { freePort } from './free-port.js';
import { mirrorAppConfig } from './mirror-app.js';

export const CLUSTER_SECRET = 'test-cluster-secret-0123456789abcdef';

export interface Replica {
  url: string;
  core: Core;
  close(): Promise<void>;
}

/** `n` replicas of one cluster; `env` holds the shared engines' settings (index, storage). */
export async function startReplicas(n: number, upstreamUrl: string, env: Record<string, string>): Promise<Replica[]> {
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const replicas: Replica[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const config = mirrorAppConfig(upstreamUrl, {
        ...env,
        MIRROR_CLUSTER_PEERS: urls.join(','),
        MIRROR_CLUSTER_SELF_URL: urls[i]!,
        MIRROR_CLUSTER_SECRET: CLUSTER_SECRET,
      });
      const core = await createCore(config);
      const { listener, stop } = createApp(core);
      const server: Server = createServer(listener);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(ports[i], '127.0.0.1', resolve);
      });
      replicas.push({
        url: urls[i]!,
        core,
        async close() {
          server.closeAllConnections();
          await new Promise<void>((resolve) => server.close(() => resolve()));
          await stop();
          await core.close();
          rmSync(config.storage.path, { recursive: true, force: true });
        },
      });
    }
  } catch (err) {
    await Promise.all(replicas.map((r) => r.close()));
    throw err;
  }
  return replicas;
}
