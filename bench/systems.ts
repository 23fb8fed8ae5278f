/**
 * The systems under test, all on 127.0.0.1 and free ports:
 *
 *   upstream  Distribution 2.8 behind token auth (as Docker Hub is), seeded by the bench
 *   mirror    ours: `node dist/main.js serve`, access log off (it costs throughput; the
 *             "mirror+log" instance measures the manifest rate with it on)
 *   peer      Distribution 2.8 in proxy mode (`proxy.remoteurl`), anonymous to clients
 *   nginx     started later by run.ts, once the 200 MiB blob file exists
 *
 * Each system reaches the upstream through its own counting proxy, so its upstream blob
 * GETs can be counted; the "direct" pulls go through a third one, so that the cold-pull
 * ratio compares the same number of hops (a straight pull is measured too).
 */
import { readFile } from 'node:fs/promises';
import { startCountingProxy, type CountingProxy } from '../test/helpers/counting-proxy.js';
import { startDistribution, type Distribution } from '../test/helpers/distribution.js';
import { freePort } from '../test/helpers/free-port.js';
import { MIRROR_MAIN, startMirror, type MirrorProcess } from '../test/helpers/mirror.js';
import { spawnProcess, waitForHttp, type ProcessHandle } from '../test/helpers/processes.js';
import type { Cleanup } from './cleanup.js';

export type SystemName = 'mirror' | 'peer';
export const SYSTEMS: readonly SystemName[] = ['mirror', 'peer'];

export interface Systems {
  upstream: Distribution;
  /** Counting proxy in front of the upstream for each client of it. */
  counters: Record<SystemName | 'direct', CountingProxy>;
  mirror: MirrorProcess;
  /** The same build with the JSON access log on (default config), for the manifest rate only. */
  mirrorLogged: MirrorProcess;
  peer: Distribution;
  /** Base URL of each system. */
  url: Record<SystemName, string>;
  host: Record<SystemName, string>;
}

/** Mirror settings for the bench: tags stay fresh for the whole run. */
export const MIRROR_ENV: Record<string, string> = {
  MIRROR_UPSTREAM_TAG_TTL: '1h',
  MIRROR_LOG_LEVEL: 'warn',
  MIRROR_LOG_ACCESS: 'false',
};

export async function startSystems(cleanup: Cleanup): Promise<Systems> {
  const upstream = await startDistribution({ tokenAuth: true });
  cleanup.add('upstream', () => upstream.stop());

  const counter = async (name: string): Promise<CountingProxy> => {
    const proxy = await startCountingProxy(upstream.url);
    cleanup.add(`counting proxy (${name})`, () => proxy.close());
    return proxy;
  };
  const counters = { direct: await counter('direct'), mirror: await counter('mirror'), peer: await counter('peer') };

  const peer = await startDistribution({ proxyRemoteUrl: counters.peer.url });
  cleanup.add('peer', () => peer.stop());
  const mirror = await startMirror({ upstreamUrl: counters.mirror.url, env: MIRROR_ENV });
  cleanup.add('mirror', () => mirror.destroy());
  const mirrorLogged = await startMirror({
    upstreamUrl: upstream.url, env: { ...MIRROR_ENV, MIRROR_LOG_LEVEL: 'info', MIRROR_LOG_ACCESS: 'true' },
  });
  cleanup.add('mirror+log', () => mirrorLogged.destroy());

  return {
    upstream, counters, mirror, mirrorLogged, peer,
    url: { mirror: mirror.url, peer: peer.url },
    host: { mirror: mirror.host, peer: peer.host },
  };
}

/** Where Distribution keeps a blob's bytes (its storage driver's layout). */
export function distributionBlobFile(registry: Distribution, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return `${registry.dir}/data/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
}

/** GETs of blobs that reached the upstream through `proxy` (optionally only these digests). */
export function upstreamBlobGets(proxy: CountingProxy, digests?: readonly string[]): number {
  return proxy.requests.filter((r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.path)
    && (!digests || digests.some((d) => r.path.includes(d)))).length;
}

/** The peak resident set (VmHWM) of a live process, in MiB, and its command name. */
export async function peakRssMiB(pid: number): Promise<{ mib: number; comm: string }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  const comm = /^Name:\s+(\S+)/m.exec(status)?.[1] ?? '?';
  return { mib: kb / 1024, comm };
}

export interface LaunchedMirror {
  url: string;
  process: ProcessHandle;
  /** From spawn to the first 200 on /healthz (polled every 10 ms). */
  startSeconds: number;
}

/**
 * The mirror on an existing data dir, started by hand rather than by startMirror: node
 * flags (--cpu-prof is refused in NODE_OPTIONS) and a finer startup clock.
 */
export async function launchMirror(options: { dataDir: string; upstreamUrl: string; nodeArgs?: string[] }): Promise<LaunchedMirror> {
  const port = await freePort();
  const started = performance.now();
  const proc = spawnProcess('mirror', process.execPath, [...(options.nodeArgs ?? []), MIRROR_MAIN, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin', ...MIRROR_ENV,
      MIRROR_HTTP_ADDR: `127.0.0.1:${port}`, MIRROR_STORAGE_PATH: options.dataDir, MIRROR_UPSTREAM_URL: options.upstreamUrl,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/healthz`, { process: proc, intervalMs: 10, accept: (s) => s === 200 });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { url, process: proc, startSeconds: (performance.now() - started) / 1000 };
}
