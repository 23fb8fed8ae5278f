/**
 * The WAN rows: a fresh 10-layer, 300 MiB image (raw, incompressible) per round, pulled
 * cold with skopeo straight from the far upstream, through the mirror (prefetch on, its
 * default), through a second mirror with prefetch off, and through the peer, in rotating
 * order; per round the ratios to direct and to the peer.
 */
import { Client } from 'undici';
import { seedImage, type SeededImage } from '../test/helpers/seed.js';
import { MiB } from './images.js';
import { rotate, type Recorder } from './recorder.js';
import { cpuSeconds, launchMirror, peakRssMiB, rssMiB, type LaunchedMirror } from './systems.js';
import type { Cleanup } from './cleanup.js';
import { startWanPeer, wanPull, type WanLink, type WanPeer } from './wan.js';

export const WAN_LAYERS = 10;
export const WAN_LAYER_SIZE = 30 * MiB;
export const WAN_FIGURE = `WAN cold pull ${(WAN_LAYERS * WAN_LAYER_SIZE) / MiB} MiB (${WAN_LAYERS} layers)`;

export interface WanSystems {
  link: WanLink;
  mirror: LaunchedMirror;
  /** The same build with upstream.prefetch 0: what eager prefetch buys. */
  mirrorNoPrefetch: LaunchedMirror;
  peer: WanPeer;
}

const NO_PREFETCH = 'mirror, prefetch off';

/** The WAN mirrors (fresh data dirs) and the peer, all pointed at the far upstream. */
export async function startWanSystems(link: WanLink, cleanup: Cleanup): Promise<WanSystems> {
  const peer = await startWanPeer(link);
  cleanup.add('wan peer', () => peer.stop());
  const mirror = await launchMirror({ upstreamUrl: link.upstreamUrl });
  cleanup.add('wan mirror', () => mirror.stop());
  const mirrorNoPrefetch = await launchMirror({ upstreamUrl: link.upstreamUrl, env: { MIRROR_UPSTREAM_PREFETCH: '0' } });
  cleanup.add('wan mirror, prefetch off', () => mirrorNoPrefetch.stop());
  return { link, mirror, mirrorNoPrefetch, peer };
}

/**
 * A check that the link delays as meant: a new connection and GET /v2/ should take about
 * 4 one-way delays (handshake round trip + request round trip), plus timer slack.
 */
export async function probeWanLink(link: WanLink, rec: Recorder): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const client = new Client(link.upstreamUrl);
    try {
      const started = performance.now();
      const res = await client.request({ method: 'GET', path: '/v2/' });
      await res.body.dump();
      rec.add('WAN link: new connection + GET /v2/', 'direct', 'ms', performance.now() - started);
    } finally {
      await client.close();
    }
  }
}

/** This round's image, pushed through the undelayed seeding port (the rate limit still applies). */
export function seedWanImage(link: WanLink, runId: string, round: number): Promise<SeededImage> {
  const layers = Array.from({ length: WAN_LAYERS }, (_, i) => ({
    size: WAN_LAYER_SIZE, seed: `${runId}:wan:${round}:${i}`, format: 'raw' as const,
  }));
  return seedImage(link.seedTarget, `library/bench-wan-${round}`, 'latest', { layers });
}

export async function measureWanRound(wan: WanSystems, image: SeededImage, rec: Recorder, work: string, round: number): Promise<void> {
  const ref = `${image.repo}:latest`;
  const hosts: Record<string, string> = {
    direct: wan.link.upstreamHost, mirror: wan.mirror.host, [NO_PREFETCH]: wan.mirrorNoPrefetch.host, peer: wan.peer.host,
  };
  const pids: Record<string, number> = {
    mirror: wan.mirror.process.pid, [NO_PREFETCH]: wan.mirrorNoPrefetch.process.pid, peer: wan.peer.process.pid,
  };
  const t: Record<string, number> = {};
  for (const path of rotate(Object.keys(hosts), round)) {
    const cpu = pids[path] ? await cpuSeconds(pids[path]) : 0;
    t[path] = await wanPull(wan.link, `${hosts[path]!}/${ref}`, work);
    rec.add(WAN_FIGURE, path, 's', t[path]!);
    if (pids[path]) rec.add('WAN cold pull: CPU time of the system', path, 's', (await cpuSeconds(pids[path])) - cpu);
  }
  for (const s of ['mirror', NO_PREFETCH, 'peer']) rec.add('WAN cold pull ÷ direct', s, '×', t[s]! / t.direct!);
  for (const s of ['mirror', NO_PREFETCH]) rec.add('WAN cold pull ÷ peer', s, '×', t[s]! / t.peer!);
}

/** Peak and idle RSS of the WAN systems (each started fresh for these rows only). */
export async function recordWanMemory(wan: WanSystems, rec: Recorder): Promise<void> {
  const procs = { mirror: wan.mirror.process.pid, [NO_PREFETCH]: wan.mirrorNoPrefetch.process.pid, peer: wan.peer.process.pid };
  for (const [name, pid] of Object.entries(procs)) {
    rec.add('WAN peak RSS', name, 'MiB', (await peakRssMiB(pid)).mib);
    rec.add('WAN RSS after the run, idle', name, 'MiB', await rssMiB(pid));
  }
}
