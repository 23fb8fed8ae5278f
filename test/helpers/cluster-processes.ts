/**
 * Several mirror replicas as users run them (`node dist/main.js serve`), sharing one S3
 * bucket prefix (radosgw, or the S3_TEST_* store) and one PostgreSQL database (a local
 * server, or PG_TEST_URL), with the same auth.token_secret and the cluster.* keys
 * (peers, self_url, secret). Each replica has its own free 127.0.0.1 port and data dir,
 * and a local namespace `team/*` that user alice (password secret) may push to.
 *
 * ```ts
 * const cluster = await startCluster({ upstreamUrl: proxy.url });   // 3 replicas
 * afterAll(() => cluster.stop());
 * await cluster.replicas[0]!.kill();     // SIGKILL, as a crash
 * await cluster.replicas[0]!.restart();  // same port, data dir and env
 * ```
 * Every process is stopped by its PID; temp dirs are removed by stop(). (For replicas
 * in-process, built by createCore, see cluster.ts; this one is for what only separate
 * processes show: SIGKILL mid-fill, a restart, real clients through a TCP balancer.)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { s3MirrorEnv, startS3, type RadosgwOptions, type S3TestStore } from './ceph.js';
import { freePort } from './free-port.js';
import { htpasswdText } from './htpasswd.js';
import { MIRROR_MAIN } from './mirror.js';
import { startPostgres, type TestPostgres } from './postgres.js';
import { spawnProcess, waitForHttp, type ProcessHandle } from './processes.js';

/** The pusher of the `team/*` namespace on every replica. */
export const CLUSTER_USER = { username: 'alice', password: 'secret' } as const;

export interface ClusterOptions {
  /** The upstream every replica mirrors (a counting proxy in front of Distribution, say). */
  upstreamUrl: string;
  /** How many replicas (default 3). */
  replicas?: number;
  /** More MIRROR_* env for every replica. */
  env?: Record<string, string>;
  /** The mirror's entry point (default dist/main.js; the bench passes its own build). */
  main?: string;
  /** For the radosgw started (not an S3_TEST_* store): its memstore size. */
  radosgw?: RadosgwOptions;
}

export interface ReplicaProcess {
  readonly index: number;
  /** http://127.0.0.1:PORT, also its cluster.self_url. */
  readonly url: string;
  /** 127.0.0.1:PORT, for image references. */
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** The running process (a new one after restart()). */
  readonly process: ProcessHandle;
  /** The env it runs with (for a CLI command "on this replica": prune, gc...). */
  readonly env: Record<string, string>;
  /** SIGKILL at once, as a crash would; resolves once it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port, data dir and env; resolves once /healthz answers 200. */
  restart(): Promise<void>;
  /** SIGTERM (graceful), then SIGKILL. */
  stop(): Promise<void>;
}

export interface Cluster {
  readonly replicas: ReplicaProcess[];
  readonly s3: S3TestStore;
  readonly bucket: string;
  /** The key prefix of the mirror's objects in the bucket (ends with /). */
  readonly prefix: string;
  readonly pg: TestPostgres;
  /** The shared index database. */
  readonly databaseUrl: string;
  /** Keys (without the prefix) and sizes of the objects under `blobs/`. */
  blobObjects(): Promise<Array<{ key: string; size: number }>>;
  /** Stops every replica, then the engines; removes the temp dirs. */
  stop(): Promise<void>;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const count = options.replicas ?? 3;
  const work = mkdtempSync(join(tmpdir(), 'mirror-cluster-'));
  const htpasswd = join(work, 'htpasswd');
  writeFileSync(htpasswd, htpasswdText({ [CLUSTER_USER.username]: CLUSTER_USER.password }));
  let s3: S3TestStore | undefined;
  let pg: TestPostgres | undefined;
  const replicas: ReplicaProcess[] = [];
  const stop = async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await pg?.stop();
    await s3?.stop();
    rmSync(work, { recursive: true, force: true });
  };
  try {
    [s3, pg] = await Promise.all([startS3(options.radosgw), startPostgres()]);
    const [bucket, databaseUrl] = await Promise.all([s3.createBucket(), pg.createDatabase()]);
    const prefix = `${s3.freshPrefix()}cluster/`;
    // Every port first: each replica's peers list names all of them.
    const ports: number[] = [];
    while (ports.length < count) {
      const port = await freePort();
      if (!ports.includes(port)) ports.push(port);
    }
    const peers = ports.map((p) => `http://127.0.0.1:${p}`);
    const shared: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      MIRROR_UPSTREAM_URL: options.upstreamUrl,
      MIRROR_LOG_LEVEL: 'warn',
      MIRROR_LOG_ACCESS: 'false',
      ...s3MirrorEnv(s3, bucket, prefix),
      MIRROR_INDEX_DRIVER: 'postgres',
      MIRROR_INDEX_URL: databaseUrl,
      MIRROR_INDEX_POOL_SIZE: '4',
      MIRROR_AUTH_TOKEN_SECRET: randomBytes(32).toString('hex'),
      MIRROR_AUTH_HTPASSWD: htpasswd,
      MIRROR_LOCAL_NAMESPACES: 'team/*',
      MIRROR_CLUSTER_PEERS: peers.join(','),
      MIRROR_CLUSTER_SECRET: randomBytes(32).toString('hex'),
      ...options.env,
    };
    for (let i = 0; i < count; i++) {
      const dataDir = join(work, `replica-${i}`);
      replicas.push(replica(i, ports[i]!, dataDir, options.main ?? MIRROR_MAIN, { ...shared, MIRROR_HTTP_ADDR: `127.0.0.1:${ports[i]}`,
        MIRROR_STORAGE_PATH: dataDir, MIRROR_CLUSTER_SELF_URL: peers[i]! }));
    }
    // Together: the index migrations take one advisory lock, the others wait for it.
    await Promise.all(replicas.map((r) => r.restart()));
    const client = s3.client();
    return {
      replicas, s3, bucket, prefix, pg, databaseUrl,
      async blobObjects() {
        const out: Array<{ key: string; size: number }> = [];
        let token: string | undefined;
        do {
          const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}blobs/`, ContinuationToken: token }));
          for (const o of page.Contents ?? []) out.push({ key: o.Key!.slice(prefix.length), size: o.Size ?? 0 });
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
        return out;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One replica's handle; not started until restart(). */
function replica(index: number, port: number, dataDir: string, main: string, env: Record<string, string>): ReplicaProcess {
  let proc: ProcessHandle | undefined;
  const url = `http://127.0.0.1:${port}`;
  return {
    index, url, host: `127.0.0.1:${port}`, port, dataDir, env,
    get process() {
      if (!proc) throw new Error(`replica ${index} was never started`);
      return proc;
    },
    async kill() {
      if (!proc || proc.exitStatus() !== undefined) return;
      try {
        process.kill(proc.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await proc.exited;
    },
    async restart() {
      if (proc && proc.exitStatus() === undefined) throw new Error(`replica ${index} is still running`);
      proc = spawnProcess(`replica-${index}`, process.execPath, [main, 'serve'], { env });
      await waitForHttp(`${url}/healthz`, { process: proc, accept: (s) => s === 200, timeoutMs: 30_000 });
    },
    stop: async () => { await proc?.stop(); },
  };
}
