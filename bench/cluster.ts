/**
 * The cluster row (issue 13, `npm run bench -- --only cluster`): three replicas of the
 * bench's build on one radosgw bucket and one PostgreSQL database (test/helpers/cluster.ts
 * starts them, with their own Ceph and PostgreSQL), a Distribution upstream behind an nginx
 * tap that counts its blob GETs, and a single-node mirror (file store + SQLite) beside them:
 *
 *   herd           10 curl clients spread over the 3 replicas on a never-seen blob: upstream
 *                  GETs (1 when the fill is claimed cluster-wide), and the time against one
 *                  client alone on one replica (another never-seen blob), as a ratio
 *   warm blob      one stream of a cached blob through a replica (S3 behind it) against a
 *                  presigned GET straight from radosgw, MB/s and the ratio
 *   manifest       wrk on a cached manifest by tag: a replica (PostgreSQL index) against
 *                  the single-node mirror (SQLite), req/s and the ratio
 *
 * Without Ceph or PostgreSQL installed (and no S3_TEST_* / PG_TEST_URL), the row is
 * skipped with a note saying what is missing.
 */
import { existsSync, readdirSync } from 'node:fs';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { CEPH_AUTHTOOL_BIN, CEPH_BIN, CEPH_MON_BIN, CEPH_OSD_BIN, RADOSGW_ADMIN_BIN, RADOSGW_BIN } from '../test/helpers/ceph.js';
import { startCluster, type Cluster } from '../test/helpers/cluster-processes.js';
import { startDistribution } from '../test/helpers/distribution.js';
import { deterministicStream } from '../test/helpers/layers.js';
import { pushBlob, seedMultiArch } from '../test/helpers/seed.js';
import type { Cleanup } from './cleanup.js';
import { startUpstreamTaps } from './nginx.js';
import type { Recorder } from './recorder.js';
import { MIRROR_MAIN } from './setup.js';
import { launchMirror, MIRROR_ENV, upstreamBlobGets } from './systems.js';
import { curlGet, curlParallel, expectComplete, MANIFEST_ACCEPT, wrk } from './tools.js';

const MiB = 1024 * 1024;
/** Herd blobs: big enough that a second fill shows, small enough for 2 cores and ~2 min. */
export const CLUSTER_HERD_SIZE = 32 * MiB;
const WARM_SIZE = 64 * MiB;
const HERD_CLIENTS = 10;
const MBps = (bytes: number, seconds: number): number => bytes / 1e6 / seconds;

/** Why the row cannot run here (a missing engine), or undefined. */
export function clusterUnavailable(): string | undefined {
  const missing: string[] = [];
  if (!process.env.S3_TEST_ENDPOINT) {
    missing.push(...[CEPH_MON_BIN, CEPH_OSD_BIN, RADOSGW_BIN, RADOSGW_ADMIN_BIN, CEPH_BIN, CEPH_AUTHTOOL_BIN].filter((b) => !existsSync(b)));
  }
  if (!process.env.PG_TEST_URL) {
    const majors = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql') : [];
    if (!majors.some((m) => existsSync(`/usr/lib/postgresql/${m}/bin/postgres`))) missing.push('/usr/lib/postgresql/*/bin/postgres');
  }
  if (missing.length === 0) return undefined;
  return `cluster rows skipped: ${missing.join(', ')} not installed (apt-get install ceph-mon ceph-osd ceph-common radosgw postgresql, `
    + 'or point S3_TEST_* and PG_TEST_URL at a store and a server)';
}

/** Starts everything the row needs (stopped by `cleanup`), then `rounds` rounds of each figure. */
export async function measureCluster(cleanup: Cleanup, rec: Recorder, log: (line: string) => void,
  options: { rounds: number; wrkSeconds: number; runId: string }): Promise<void> {
  const why = clusterUnavailable();
  if (why) {
    rec.note(why);
    return;
  }
  log('cluster: starting Distribution, radosgw, PostgreSQL, 3 replicas and a single-node mirror');
  const upstream = await startDistribution({ tokenAuth: true });
  cleanup.add('cluster upstream', () => upstream.stop());
  const taps = await startUpstreamTaps(upstream.url, ['cluster', 'single'] as const);
  cleanup.add('cluster upstream taps (nginx)', () => taps.stop());
  const cluster = await startCluster({ upstreamUrl: taps.taps.cluster.url, main: MIRROR_MAIN, env: MIRROR_ENV,
    // Until fills are claimed cluster-wide each replica of a herd writes the blob: room for that.
    radosgw: { memstoreBytes: 1024 * MiB } });
  cleanup.add('cluster', () => cluster.stop());
  const single = await launchMirror({ upstreamUrl: taps.taps.single.url });
  cleanup.add('single-node mirror', () => single.stop());

  log('cluster: seeding herd, warm and manifest content');
  const blob = async (seed: string, size: number): Promise<string> => (await pushBlob(upstream, 'library/bench-cluster',
    { stream: () => deterministicStream(size, `${options.runId}:cluster:${seed}`) })).digest;
  const multi = await seedMultiArch(upstream, 'library/bench-cluster-multi', 'latest', { mediaType: 'docker' });
  const warm = await blob('warm', WARM_SIZE);
  const manifestPath = `/v2/${multi.repo}/manifests/latest`;
  for (const base of [cluster.replicas[0]!.url, single.url]) {
    const res = await curlGet(base + manifestPath, [`Accept: ${MANIFEST_ACCEPT}`]);
    if (res.status !== 200) throw new Error(`cluster warm-up manifest GET on ${base}: HTTP ${res.status}`);
  }
  expectComplete('cluster warm-up blob GET', [await curlGet(`${cluster.replicas[0]!.url}/v2/library/bench-cluster/blobs/${warm}`)], WARM_SIZE);
  const direct = await presignedBlobUrl(cluster, warm);

  for (let r = 0; r < options.rounds; r++) {
    log(`cluster round ${r + 1}/${options.rounds}: herd over 3 replicas, warm blob, manifest GETs`);
    await measureHerd(cluster, taps.taps.cluster, rec, await blob(`herd:${r}`, CLUSTER_HERD_SIZE), await blob(`solo:${r}`, CLUSTER_HERD_SIZE));
    await measureWarmBlob(cluster, direct, warm, rec, r);
    await measureManifest(cluster, single.url, manifestPath, rec, options.wrkSeconds);
  }
}

type Tap = Parameters<typeof upstreamBlobGets>[0];

async function measureHerd(cluster: Cluster, tap: Tap, rec: Recorder, herd: string, solo: string): Promise<void> {
  const url = (i: number, digest: string): string => `${cluster.replicas[i % cluster.replicas.length]!.url}/v2/library/bench-cluster/blobs/${digest}`;
  const alone = await curlParallel(url(0, solo), 1);
  expectComplete('cluster lone blob GET', alone.downloads, CLUSTER_HERD_SIZE);
  const started = performance.now();
  const downloads = await Promise.all(Array.from({ length: HERD_CLIENTS }, (_, i) => curlGet(url(i, herd))));
  const seconds = (performance.now() - started) / 1000;
  expectComplete('cluster herd blob GET', downloads, CLUSTER_HERD_SIZE);
  await new Promise((r) => setTimeout(r, 300)); // nginx logs a request just after its last byte
  rec.add('cluster herd: upstream GETs for 10 clients over 3 replicas', 'cluster', 'GETs', upstreamBlobGets(tap, [herd]));
  rec.add('cluster herd: 10 clients over 3 replicas, total time', 'cluster', 's', seconds);
  rec.add('cluster herd: one client alone on one replica', 'cluster', 's', alone.seconds);
  rec.add('cluster herd ÷ one client alone', 'cluster', '×', seconds / alone.seconds);
}

/** A presigned GET of the blob's object: radosgw straight, no mirror in between. */
async function presignedBlobUrl(cluster: Cluster, digest: string): Promise<string> {
  const key = `${cluster.prefix}blobs/sha256/${digest.slice('sha256:'.length)}`;
  return getSignedUrl(cluster.s3.client(), new GetObjectCommand({ Bucket: cluster.bucket, Key: key }), { expiresIn: 3600 });
}

async function measureWarmBlob(cluster: Cluster, direct: string, digest: string, rec: Recorder, round: number): Promise<void> {
  // A replica that did not fill it: its bytes come from the bucket.
  const through = `${cluster.replicas[1]!.url}/v2/library/bench-cluster/blobs/${digest}`;
  const figure = 'cluster warm blob GET, 1 stream';
  const seconds: Record<string, number> = {};
  const order = round % 2 === 0 ? ['replica (S3)', 'radosgw direct'] : ['radosgw direct', 'replica (S3)'];
  for (const name of order) {
    const result = await curlParallel(name === 'radosgw direct' ? direct : through, 1);
    expectComplete(`${name} blob GET`, result.downloads, WARM_SIZE);
    seconds[name] = result.seconds;
    rec.add(figure, name, 'MB/s', MBps(WARM_SIZE, result.seconds));
  }
  rec.add('cluster warm blob: replica ÷ radosgw direct', 'replica (S3)', '×', seconds['radosgw direct']! / seconds['replica (S3)']!);
}

async function measureManifest(cluster: Cluster, singleUrl: string, path: string, rec: Recorder, wrkSeconds: number): Promise<void> {
  const rps: Record<string, number> = {};
  const urls: Record<string, string> = { 'replica (PostgreSQL)': cluster.replicas[0]!.url + path, 'single node (SQLite)': singleUrl + path };
  for (const [name, url] of Object.entries(urls)) {
    const result = await wrk(url, { connections: 16, seconds: wrkSeconds, headers: [`Accept: ${MANIFEST_ACCEPT}`] });
    if (result.errors > 0) rec.note(`cluster manifest GET on ${name}: ${result.errors} errors in ${result.requests} requests`);
    rps[name] = result.rps;
    rec.add('cluster cached manifest GET by tag', name, 'req/s', result.rps);
  }
  rec.add('cluster manifest GET: PostgreSQL ÷ SQLite', 'replica (PostgreSQL)', '×', rps['replica (PostgreSQL)']! / rps['single node (SQLite)']!);
}
