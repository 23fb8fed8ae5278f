/**
 * One round of every per-system figure. Systems take turns going first (rotate), so
 * a machine that slows down mid-run hurts each system alike.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { skopeoCopy } from '../test/helpers/skopeo.js';
import { BIG_SIZE, HERD_SIZE, type BenchImages } from './images.js';
import type { NginxFileServer } from './nginx.js';
import type { NodeCeiling } from './node-ceiling.js';
import { rotate, type Recorder } from './recorder.js';
import { cpuSeconds, SYSTEMS, upstreamBlobGets, type Systems } from './systems.js';
import { curlGet, curlParallel, expectComplete, MANIFEST_ACCEPT, wrk } from './tools.js';

export interface Context {
  sys: Systems;
  images: BenchImages;
  /** nginx serving the 200 MiB blob file and the mirror's manifest bytes (started only for the blob and manifest rows). */
  nginx?: NginxFileServer<'blob' | 'manifest'>;
  /** node:http answering with the mirror's manifest response (only for the manifest rows). */
  nodeCeiling?: NodeCeiling;
  rec: Recorder;
  /** Scratch dir for skopeo's copies. */
  work: string;
  /** wrk duration for the manifest rate. */
  wrkSeconds: number;
}

function started<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} was not started for this run`);
  return value;
}

const MBps = (bytes: number, seconds: number): number => bytes / 1e6 / seconds;

/** skopeo copy of `ref` from `host` into a dir (removed after): seconds. */
async function pull(ctx: Context, host: string, ref: string): Promise<number> {
  const dest = join(ctx.work, `pull-${Date.now()}`);
  try {
    const started = performance.now();
    await skopeoCopy(`docker://${host}/${ref}`, `dir:${dest}`, { timeoutMs: 180_000 });
    return (performance.now() - started) / 1000;
  } finally {
    rmSync(dest, { recursive: true, force: true });
  }
}

/**
 * Cold pull of this cold round's fresh image through every path (A/B/C: direct, the
 * mirror, the peer, plus direct through a tap), in rotating order, with the ratios of
 * this round; then, when `warm`, warm pulls through each system.
 */
export async function measurePulls(ctx: Context, round: number, warm: boolean): Promise<void> {
  const { sys, rec } = ctx;
  const image = ctx.images.cold[round]!;
  const ref = `${image.repo}:latest`;
  const hosts: Record<string, string> = {
    direct: sys.upstream.host,
    'direct+hop': new URL(sys.counters.direct.url).host,
    mirror: sys.host.mirror,
    peer: sys.host.peer,
  };
  const pids: Record<string, number> = { mirror: sys.mirror.process.pid, peer: sys.peer.process.pid };
  const cold: Record<string, number> = {};
  for (const path of rotate(Object.keys(hosts), round)) {
    const cpu = pids[path] ? await cpuSeconds(pids[path]) : 0;
    cold[path] = await pull(ctx, hosts[path]!, ref);
    rec.add('cold pull 200 MiB', path, 's', cold[path]!);
    // Wall time is not all: a system that spends its CPU on more cores can still be slower.
    if (pids[path]) rec.add('cold pull: CPU time of the system', path, 's', (await cpuSeconds(pids[path])) - cpu);
  }
  // Ratios per round (same image, same minute), not of medians: the straight pull is the
  // reference; "direct+hop" (through a tap like the systems') shows the tap costs ~nothing.
  for (const s of SYSTEMS) rec.add('cold pull ÷ direct', s, '×', cold[s]! / cold.direct!);
  rec.add('cold pull ÷ peer', 'mirror', '×', cold.mirror! / cold.peer!);
  if (!warm) return;

  const digests = [image.configDigest, ...image.layerDigests];
  for (const s of rotate(SYSTEMS, round)) {
    const before = upstreamBlobGets(sys.counters[s], digests);
    rec.add('warm pull 200 MiB', s, 's', await pull(ctx, hosts[s]!, ref));
    rec.add('warm pull upstream blob GETs', s, 'GETs', upstreamBlobGets(sys.counters[s], digests) - before);
  }
}

/** The cached 200 MiB blob: 1 stream, then 8 at once, from each system and nginx. */
export async function measureBlobGets(ctx: Context, round: number): Promise<void> {
  const { sys, rec } = ctx;
  const digest = ctx.images.big.layerDigests[0]!;
  const urls: Record<string, string> = {
    mirror: `${sys.url.mirror}/v2/${ctx.images.big.repo}/blobs/${digest}`,
    peer: `${sys.url.peer}/v2/${ctx.images.big.repo}/blobs/${digest}`,
    nginx: started(ctx.nginx, 'nginx').urls.blob,
  };
  const before = SYSTEMS.map((s) => upstreamBlobGets(sys.counters[s], [digest]));
  for (const name of rotate(Object.keys(urls), round)) {
    for (const streams of [1, 8]) {
      const result = await curlParallel(urls[name]!, streams);
      expectComplete(`${name} blob GET`, result.downloads, BIG_SIZE);
      rec.add(`warm blob GET, ${streams} stream${streams > 1 ? 's' : ''}`, name, 'MB/s', MBps(BIG_SIZE * streams, result.seconds));
    }
  }
  SYSTEMS.forEach((s, i) => {
    const extra = upstreamBlobGets(sys.counters[s], [digest]) - before[i]!;
    if (extra > 0) rec.note(`round ${round + 1}: ${s} asked the upstream for the cached 200 MiB blob ${extra}×`);
  });
}

/**
 * wrk on the multi-arch index by tag, within the tag TTL, full Accept header; and the
 * same bytes from a bare node:http and from nginx, for scale.
 */
export async function measureManifests(ctx: Context, round: number): Promise<void> {
  const { sys, rec } = ctx;
  const path = `/v2/${ctx.images.multi.repo}/manifests/latest`;
  const urls: Record<string, string> = {
    mirror: sys.url.mirror + path, peer: sys.url.peer + path, 'mirror+log': sys.mirrorLogged.url + path,
    'node:http': started(ctx.nodeCeiling, 'node:http ceiling').url, nginx: started(ctx.nginx, 'nginx').urls.manifest,
  };
  for (const name of rotate(Object.keys(urls), round)) {
    const asked = sys.counters.mirror.requests().length;
    const result = await wrk(urls[name]!, { connections: 16, seconds: ctx.wrkSeconds, headers: [`Accept: ${MANIFEST_ACCEPT}`] });
    if (result.errors > 0) rec.note(`round ${round + 1}: ${name} manifest GET: ${result.errors} errors in ${result.requests} requests`);
    const upstream = sys.counters.mirror.requests().length - asked;
    if (name === 'mirror' && upstream > 0) rec.note(`round ${round + 1}: the mirror asked the upstream ${upstream}× while serving a tag within its TTL`);
    rec.add('cached manifest GET by tag', name, 'req/s', result.rps);
    rec.add('cached manifest GET p99', name, 'ms', result.p99Ms);
  }
}

/** 10 clients at once on a never-seen 64 MiB blob, and one client alone on another. */
export async function measureHerd(ctx: Context, round: number): Promise<void> {
  const { sys, rec, images } = ctx;
  const { herd, solo } = images.rounds[round]!;
  for (const s of rotate(SYSTEMS, round)) {
    const url = (digest: string): string => `${sys.url[s]}/v2/${images.blobRepo}/blobs/${digest}`;
    const alone = await curlParallel(url(solo[s]), 1);
    expectComplete(`${s} lone blob GET`, alone.downloads, HERD_SIZE);
    const crowd = await curlParallel(url(herd[s]), 10);
    expectComplete(`${s} herd blob GET`, crowd.downloads, HERD_SIZE);
    await new Promise((r) => setTimeout(r, 300)); // nginx logs a request just after its last byte
    rec.add('herd: upstream GETs for 10 clients', s, 'GETs', upstreamBlobGets(sys.counters[s], [herd[s]]));
    rec.add('herd: 10 clients, total time', s, 's', crowd.seconds);
    rec.add('herd: one client alone', s, 's', alone.seconds);
    rec.add('herd ÷ one client alone', s, '×', crowd.seconds / alone.seconds);
  }
}

/** Untimed first requests, so the warm figures measure cached content only. */
export async function warmUp(sys: Systems, images: BenchImages): Promise<void> {
  const digest = images.big.layerDigests[0]!;
  for (const base of [sys.url.mirror, sys.url.peer]) {
    expectComplete(`warm-up ${base}`, [await curlGet(`${base}/v2/${images.big.repo}/blobs/${digest}`)], BIG_SIZE);
  }
  for (const base of [sys.url.mirror, sys.url.peer, sys.mirrorLogged.url]) {
    const res = await curlGet(`${base}/v2/${images.multi.repo}/manifests/latest`, [`Accept: ${MANIFEST_ACCEPT}`]);
    if (res.status !== 200) throw new Error(`warm-up manifest GET on ${base}: HTTP ${res.status}`);
  }
  // Distribution's proxy commits a blob after the response ends: let it finish.
  await new Promise((r) => setTimeout(r, 1000));
}
