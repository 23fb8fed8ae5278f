/**
 * A throwaway single-node Ceph with radosgw (S3) on 127.0.0.1, for the S3 blob store's
 * tests: one mon, one memstore OSD (RAM only, small) and radosgw, under a temp dir, each
 * a foreground daemon stopped by PID, up in about 1.5 s. cephx with keys generated per
 * cluster (with `auth none` radosgw retries its first mon handshake for ~10 s).
 *
 * ```ts
 * const s3 = await startS3();            // radosgw, or the S3_TEST_* store when set
 * afterAll(() => s3.stop());
 * const bucket = await s3.createBucket(); // a fresh bucket per test file
 * ```
 *
 * With S3_TEST_ENDPOINT, S3_TEST_ACCESS_KEY, S3_TEST_SECRET_KEY and S3_TEST_BUCKET set
 * (MinIO, AWS S3), nothing is started: the tests use that store, under a fresh prefix of
 * that bucket (createBucket then returns S3_TEST_BUCKET).
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { OFFLINE_ENV } from './distribution.js';
import { freePort } from './free-port.js';
import { spawnProcess, waitForHttp, type ProcessHandle } from './processes.js';

export const CEPH_MON_BIN = '/usr/bin/ceph-mon';
export const CEPH_OSD_BIN = '/usr/bin/ceph-osd';
export const RADOSGW_BIN = '/usr/bin/radosgw';
export const RADOSGW_ADMIN_BIN = '/usr/bin/radosgw-admin';
export const CEPH_BIN = '/usr/bin/ceph';
export const CEPH_AUTHTOOL_BIN = '/usr/bin/ceph-authtool';
export const MONMAPTOOL_BIN = '/usr/bin/monmaptool';

const run = promisify(execFile);

export interface S3TestStore {
  /** http://127.0.0.1:PORT (radosgw) or S3_TEST_ENDPOINT. */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** True when the store is the external one from S3_TEST_* env. */
  readonly external: boolean;
  /** A fresh bucket (radosgw), or S3_TEST_BUCKET (external). */
  createBucket(): Promise<string>;
  /** A unique key prefix ('' on radosgw's fresh buckets, `mirror-test-<uuid>/` outside). */
  freshPrefix(): string;
  /** An S3 client for assertions (ListObjects...). */
  client(): S3Client;
  /** Stops radosgw only (the store then refuses connections); stop() still cleans up. */
  stopGateway(): Promise<void>;
  stop(): Promise<void>;
}

/** The MIRROR_STORAGE_* env of a mirror whose blobs live in `bucket` under `prefix` of this store. */
export function s3MirrorEnv(s3: S3TestStore, bucket: string, prefix: string, endpoint = s3.endpoint): Record<string, string> {
  return {
    MIRROR_STORAGE_DRIVER: 's3',
    MIRROR_STORAGE_S3_ENDPOINT: endpoint,
    MIRROR_STORAGE_S3_REGION: s3.region,
    MIRROR_STORAGE_S3_BUCKET: bucket,
    MIRROR_STORAGE_S3_PREFIX: prefix,
    MIRROR_STORAGE_S3_ACCESS_KEY: s3.accessKey,
    MIRROR_STORAGE_S3_SECRET_KEY: s3.secretKey,
  };
}

/** An S3Client the way the mirror builds one for a non-AWS store. */
export function testS3Client(endpoint: string, region: string, accessKey: string, secretKey: string): S3Client {
  return new S3Client({
    endpoint, region, forcePathStyle: true,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** The S3 store for tests: the one named by S3_TEST_* env, else a fresh radosgw. */
export async function startS3(options: RadosgwOptions = {}): Promise<S3TestStore> {
  const env = process.env;
  if (env.S3_TEST_ENDPOINT) {
    const { S3_TEST_ENDPOINT: endpoint, S3_TEST_ACCESS_KEY: ak, S3_TEST_SECRET_KEY: sk, S3_TEST_BUCKET: bucket } = env;
    if (!ak || !sk || !bucket) throw new Error('S3_TEST_ENDPOINT needs S3_TEST_ACCESS_KEY, S3_TEST_SECRET_KEY and S3_TEST_BUCKET');
    const region = env.S3_TEST_REGION ?? 'us-east-1';
    const client = testS3Client(endpoint, region, ak, sk);
    return {
      endpoint, region, accessKey: ak, secretKey: sk, external: true,
      createBucket: async () => bucket,
      freshPrefix: () => `mirror-test-${randomUUID()}/`,
      client: () => client,
      stopGateway: async () => { throw new Error('cannot stop an external S3 store'); },
      stop: async () => client.destroy(),
    };
  }
  return startRadosgw(options);
}

export interface RadosgwOptions {
  /** The memstore OSD's size (default 256 MiB): the bench's cluster row stores more. */
  memstoreBytes?: number;
}

/** One mon + one memstore OSD + radosgw under a temp dir; about 0.5 GB of RAM at most (by default). */

export async function startRadosgw(options: RadosgwOptions = {}): Promise<S3TestStore> {
  const dir = mkdtempSync(join(tmpdir(), 'mirror-ceph-'));
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  const fsid = randomUUID();
  for (const sub of ['run', 'log', 'mon', 'osd/ceph-0', 'rgw']) mkdirSync(join(dir, sub), { recursive: true });
  const conf = join(dir, 'ceph.conf');
  writeFileSync(conf, cephConf(dir, fsid, monPort, rgwPort, options.memstoreBytes ?? 256 * 1024 * 1024));
  const keyring = join(dir, 'keyring');
  const procEnv = { ...process.env, ...OFFLINE_ENV };
  const procs: ProcessHandle[] = [];
  const stopAll = async () => {
    // memstore keeps nothing worth a clean shutdown: a short grace, then SIGKILL.
    for (const p of procs.reverse()) await p.stop(1_000);
    rmSync(dir, { recursive: true, force: true });
  };
  const tool = (bin: string, args: string[]) => run(bin, args, { env: procEnv, timeout: 30_000 });
  try {
    await tool(CEPH_AUTHTOOL_BIN, ['--create-keyring', keyring, '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    await tool(CEPH_AUTHTOOL_BIN, [keyring, '--gen-key', '-n', 'client.admin', '--cap', 'mon', 'allow *', '--cap', 'osd', 'allow *', '--cap', 'mgr', 'allow *']);
    await tool(CEPH_AUTHTOOL_BIN, [keyring, '--gen-key', '-n', 'client.rgw', '--cap', 'mon', 'allow rw', '--cap', 'osd', 'allow rwx']);
    await tool(CEPH_AUTHTOOL_BIN, [keyring, '--gen-key', '-n', 'osd.0', '--cap', 'mon', 'allow profile osd', '--cap', 'osd', 'allow *']);
    const monmap = join(dir, 'monmap');
    await tool(MONMAPTOOL_BIN, ['--create', '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, '--fsid', fsid, monmap, '-c', conf]);
    await tool(CEPH_MON_BIN, ['--mkfs', '-i', 'a', '--monmap', monmap, '--keyring', keyring, '-c', conf]);
    procs.push(spawnProcess('ceph-mon', CEPH_MON_BIN, ['-i', 'a', '-c', conf, '-f'], { env: procEnv }));
    await tool(CEPH_BIN, ['-c', conf, '--connect-timeout', '20', 'osd', 'create']);
    await tool(CEPH_OSD_BIN, ['-i', '0', '-c', conf, '--mkfs']);
    procs.push(spawnProcess('ceph-osd', CEPH_OSD_BIN, ['-i', '0', '-c', conf, '-f'], { env: procEnv }));
    await tool(CEPH_BIN, ['-c', conf, 'osd', 'crush', 'add', 'osd.0', '1', 'root=default', 'host=local']);
    const rgw = spawnProcess('radosgw', RADOSGW_BIN, ['-n', 'client.rgw', '-c', conf, '-f'], { env: procEnv });
    procs.push(rgw);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await waitForHttp(`${endpoint}/`, { process: rgw, timeoutMs: 60_000, accept: (s) => s === 200 });
    const accessKey = randomBytes(10).toString('hex').toUpperCase();
    const secretKey = randomBytes(20).toString('hex');
    await tool(RADOSGW_ADMIN_BIN, ['-c', conf, 'user', 'create', '--uid=mirror', '--display-name=mirror',
      `--access-key=${accessKey}`, `--secret-key=${secretKey}`]);
    const region = 'us-east-1';
    const client = testS3Client(endpoint, region, accessKey, secretKey);
    return {
      endpoint, region, accessKey, secretKey, external: false,
      async createBucket() {
        const bucket = `mirror-${randomUUID()}`;
        // A fresh user's first request can race radosgw's user cache: retry briefly.
        for (let attempt = 0; ; attempt++) {
          try {
            await client.send(new CreateBucketCommand({ Bucket: bucket }));
            return bucket;
          } catch (err) {
            if (attempt >= 20) throw err;
            await sleep(250);
          }
        }
      },
      freshPrefix: () => '',
      client: () => client,
      stopGateway: () => rgw.stop(1_000),
      async stop() {
        client.destroy();
        await stopAll();
      },
    };
  } catch (err) {
    const logs = procs.map((p) => `--- ${p.name} ---\n${p.output().slice(-2000)}`).join('\n');
    await stopAll();
    throw new Error(`could not start Ceph: ${(err as Error).message}\n${logs}`);
  }
}

function cephConf(dir: string, fsid: string, monPort: number, rgwPort: number, memstoreBytes: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
public network = 127.0.0.0/8
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
# The mon commits a map change (a pool radosgw creates, the OSD coming up) once a second
# by default: radosgw's start took ~11 s of those ticks. Proposing at once brings it to ~1 s.
paxos propose interval = 0.05
paxos min wait = 0.01
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 1
osd pool default pgp num = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
pid file = ${dir}/run/$name.pid
mon data = ${dir}/mon/$cluster-$id
osd data = ${dir}/osd/$cluster-$id
keyring = ${dir}/keyring
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${dir}/rgw
rgw enable usage log = false
`;
}
