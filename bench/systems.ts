/**
 * The systems under test, all on 127.0.0.1 and free ports:
 *
 *   upstream  Distribution 2.8 behind token auth (as Docker Hub is), seeded by the bench
 *   mirror    ours: `node dist/main.js serve` from the bench's build (setup.ts), access
 *             log off; "mirror+log" (log on, as configured by default) is measured for
 *             the manifest rate only, its JSON lines read by the bench through a pipe
 *   peer      Distribution 2.8 in proxy mode (`proxy.remoteurl`), anonymous to clients
 *   nginx     started by run.ts once the files it serves exist (nginx.ts)
 *
 * Each system reaches the upstream through its own tap (an nginx reverse proxy whose
 * access log counts that system's upstream requests). "direct+hop" pulls go through a
 * third tap: next to the straight pull, it shows what a tap adds (nearly nothing).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDistribution, type Distribution } from '../test/helpers/distribution.js';
import { freePort } from '../test/helpers/free-port.js';
import { spawnProcess, waitForHttp, type ProcessHandle } from '../test/helpers/processes.js';
import type { Cleanup } from './cleanup.js';
import { startUpstreamTaps, type UpstreamTap } from './nginx.js';
import { MIRROR_MAIN } from './setup.js';

export type SystemName = 'mirror' | 'peer';
export const SYSTEMS: readonly SystemName[] = ['mirror', 'peer'];

export interface Systems {
  upstream: Distribution;
  /** A counting tap in front of the upstream for each client of it. */
  counters: Record<SystemName | 'direct', UpstreamTap>;
  mirror: LaunchedMirror;
  /** The same build with the JSON access log on (default config), for the manifest rate only. */
  mirrorLogged: LaunchedMirror;
  peer: Distribution;
  /** Base URL of each system. */
  url: Record<SystemName, string>;
  host: Record<SystemName, string>;
}

/**
 * Mirror settings for the bench: tags stay fresh for the whole run. MIRROR_* variables of
 * the bench's own environment come on top, so a setting is A/B'd with one variable
 * (`MIRROR_STORAGE_FILL_WORKERS=0 npm run bench -- --only cold`).
 */
export const MIRROR_ENV: Record<string, string> = {
  MIRROR_UPSTREAM_TAG_TTL: '1h',
  MIRROR_LOG_LEVEL: 'warn',
  MIRROR_LOG_ACCESS: 'false',
  ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('MIRROR_') && e[1] !== undefined)),
};

export async function startSystems(cleanup: Cleanup): Promise<Systems> {
  const upstream = await startDistribution({ tokenAuth: true });
  cleanup.add('upstream', () => upstream.stop());

  const taps = await startUpstreamTaps(upstream.url, ['direct', 'mirror', 'peer'] as const);
  cleanup.add('upstream taps (nginx)', () => taps.stop());
  const counters = taps.taps;

  const peer = await startDistribution({ proxyRemoteUrl: counters.peer.url });
  cleanup.add('peer', () => peer.stop());
  const mirror = await launchMirror({ upstreamUrl: counters.mirror.url });
  cleanup.add('mirror', () => mirror.stop());
  const mirrorLogged = await launchMirror({ upstreamUrl: upstream.url, env: { MIRROR_LOG_LEVEL: 'info', MIRROR_LOG_ACCESS: 'true' } });
  cleanup.add('mirror+log', () => mirrorLogged.stop());

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

/**
 * Blob fetches that reached the upstream through `proxy` (optionally only these digests):
 * GETs not answered 401 (a token challenge moves no bytes; the client retries with a token).
 */
export function upstreamBlobGets(tap: UpstreamTap, digests?: readonly string[]): number {
  return tap.requests().filter((r) => r.method === 'GET' && r.status !== 401 && /\/blobs\/sha256:/.test(r.path)
    && (!digests || digests.some((d) => r.path.includes(d)))).length;
}

/** The peak resident set (VmHWM) of a live process, in MiB, and its command name. */
export async function peakRssMiB(pid: number): Promise<{ mib: number; comm: string }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  const comm = /^Name:\s+(\S+)/m.exec(status)?.[1] ?? '?';
  return { mib: kb / 1024, comm };
}

/** The current resident set (VmRSS) of a live process, in MiB. */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024;
}

/** CPU time (user + system) a live process has used so far, in seconds (USER_HZ is 100 on Linux). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export interface LaunchedMirror {
  url: string;
  /** 127.0.0.1:PORT, for image references. */
  host: string;
  dataDir: string;
  /** The node process itself (spawned directly, not through a shell). */
  process: ProcessHandle;
  /** From spawn to the first 200 on /healthz (polled every 10 ms). */
  startSeconds: number;
  /** SIGTERM (the mirror closes cleanly), then the data dir goes if this launch made it. */
  stop(): Promise<void>;
}

export interface LaunchOptions {
  upstreamUrl: string;
  /** An existing data dir (kept on stop); a new temp dir otherwise (removed on stop). */
  dataDir?: string;
  /** More MIRROR_* settings over MIRROR_ENV. */
  env?: Record<string, string>;
  /** Flags for node itself (--cpu-prof is refused in NODE_OPTIONS). */
  nodeArgs?: string[];
}

/** `node <build>/dist/main.js serve` on a free port, as a user runs it, from the bench's own build. */
export async function launchMirror(options: LaunchOptions): Promise<LaunchedMirror> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'bench-mirror-'));
  const port = await freePort();
  const started = performance.now();
  const proc = spawnProcess('mirror', process.execPath, [...(options.nodeArgs ?? []), MIRROR_MAIN, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin', ...MIRROR_ENV, ...options.env,
      MIRROR_HTTP_ADDR: `127.0.0.1:${port}`, MIRROR_STORAGE_PATH: dataDir, MIRROR_UPSTREAM_URL: options.upstreamUrl,
    },
  });
  const stop = async (): Promise<void> => {
    await proc.stop();
    if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/healthz`, { process: proc, intervalMs: 10, accept: (s) => s === 200 });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, host: `127.0.0.1:${port}`, dataDir, process: proc, startSeconds: (performance.now() - started) / 1000, stop };
}
