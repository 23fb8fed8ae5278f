/**
 * The WAN profile: an upstream far away, reached by direct pulls, the mirror and the peer
 * through the same link.
 *
 *   host netns                               netns rmbench<pid>
 *   skopeo, mirror, peer ── veth (tbf) ──── delay lines ── Distribution 2.8 + token server
 *   10.254.N.1                               10.254.N.2     (127.0.0.1 inside)
 *
 * Rate: `tc qdisc tbf rate 1gbit` on both ends of the veth. Delay: this kernel has no
 * netem (CONFIG_NET_SCH_NETEM is not set), so the 25 ms each way comes from a userspace
 * delay line on the far side (delay-line.ts, wan-far-side.ts). Needs root (ip, tc from
 * iproute2); when the namespace or the veth cannot be made, the WAN rows are skipped with
 * a note. The namespace, the veth and every process in it go at cleanup.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { DISTRIBUTION_BIN, OFFLINE_ENV } from '../test/helpers/distribution.js';
import { freePort } from '../test/helpers/free-port.js';
import { spawnProcess, waitForHttp, type ProcessHandle } from '../test/helpers/processes.js';
import type { RegistryTarget } from '../test/helpers/push.js';
import type { Cleanup } from './cleanup.js';
import { REPO_ROOT } from './setup.js';
import type { FarSideReady } from './wan-far-side.js';

export const WAN_DELAY_MS = 25;
export const WAN_RATE = '1gbit';

export interface WanLink {
  /** The far side's address on the veth. */
  farHost: string;
  /** The upstream as clients reach it: through the rate limit and the delay. */
  upstreamUrl: string;
  upstreamHost: string;
  /** For seeding: the same registry with no delay (still rate-limited), push credentials. */
  seedTarget: RegistryTarget;
  /** Env for Go clients (skopeo, the peer): offline except for the far side's address. */
  clientEnv: Record<string, string>;
}

const ip = (args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

/** Builds the link and starts the far side; a string says why the WAN rows cannot run. */
export async function startWanLink(cleanup: Cleanup, log: (line: string) => void): Promise<WanLink | string> {
  const pid = process.pid;
  const ns = `rmbench${pid}`;
  const hostVeth = `rmbh${pid}`;
  const farVeth = `rmbn${pid}`;
  const net = `10.254.${pid % 256}`;
  const hostIp = `${net}.1`;
  const farHost = `${net}.2`;
  try {
    ip(['netns', 'add', ns]);
  } catch (err) {
    return `cannot create a network namespace (root and iproute2 needed): ${firstLine(err)}`;
  }
  let farDir: string | undefined;
  cleanup.add(`netns ${ns}`, () => {
    // The far side removes its registry's dir on SIGTERM; not if it had to be killed.
    if (farDir) rmSync(farDir, { recursive: true, force: true });
    // Anything still in the namespace was started by this bench (the far side and its registry).
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    for (const p of pids) {
      try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    }
    ip(['netns', 'del', ns]);
  });
  try {
    ip(['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', farVeth]);
    cleanup.add(`veth ${hostVeth}`, () => {
      try { ip(['link', 'del', hostVeth]); } catch { /* went with the namespace */ }
    });
    ip(['link', 'set', farVeth, 'netns', ns]);
    ip(['addr', 'add', `${hostIp}/30`, 'dev', hostVeth]);
    ip(['link', 'set', hostVeth, 'up']);
    ip(['-n', ns, 'addr', 'add', `${farHost}/30`, 'dev', farVeth]);
    ip(['-n', ns, 'link', 'set', farVeth, 'up']);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    // burst ≥ rate/HZ so 1 Gbit/s is reachable; latency bounds the tbf queue, not the delay.
    const tbf = ['qdisc', 'add', 'dev', '', 'root', 'tbf', 'rate', WAN_RATE, 'burst', '1mb', 'latency', '50ms'];
    execFileSync('tc', tbf.map((a) => a || hostVeth), { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('tc', ['-n', ns, ...tbf.map((a) => a || farVeth)], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    return `cannot set up the veth pair and tbf: ${firstLine(err)}`;
  }

  log(`WAN link: ${hostVeth} ⇄ ${farVeth} in netns ${ns}, tbf ${WAN_RATE}, ${WAN_DELAY_MS} ms each way (userspace delay line: no netem in this kernel)`);
  const far = spawnProcess('wan far side', 'ip', [
    'netns', 'exec', ns, process.execPath, '--import', 'tsx', join(REPO_ROOT, 'bench', 'wan-far-side.ts'),
    JSON.stringify({ publicHost: farHost, delayMs: WAN_DELAY_MS }),
  ], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...OFFLINE_ENV } });
  cleanup.add('wan far side', () => far.stop());
  const ready = await farSideReady(far);
  farDir = ready.dir;
  const upstreamHost = `${farHost}:${ready.registryPort}`;
  const noProxy = `127.0.0.0/8,localhost,${farHost}`;
  return {
    farHost, upstreamUrl: `http://${upstreamHost}`, upstreamHost,
    seedTarget: { url: `http://${farHost}:${ready.seedPort}`, credentials: { username: 'pusher', password: 'secret' } },
    clientEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...OFFLINE_ENV, NO_PROXY: noProxy, no_proxy: noProxy },
  };
}

async function farSideReady(far: ProcessHandle): Promise<FarSideReady> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const line = /^\{.*"registryPort".*\}$/m.exec(far.output())?.[0];
    if (line) return JSON.parse(line) as FarSideReady;
    if (far.exitStatus() !== undefined) throw new Error(`WAN far side exited (${String(far.exitStatus())}):\n${far.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`WAN far side not ready after 60 s:\n${far.output()}`);
}

function firstLine(err: unknown): string {
  const e = err as Error & { stderr?: Buffer | string };
  return (e.stderr?.toString().trim() || e.message).split('\n')[0] ?? '';
}

export interface WanPeer {
  host: string;
  process: ProcessHandle;
  stop(): Promise<void>;
}

/**
 * Distribution 2.8 in proxy mode pointed at the far upstream. Not startDistribution():
 * that one runs with every proxy variable aimed at a dead port except for 127.0.0.0/8,
 * and the far side is not on loopback.
 */
export async function startWanPeer(link: WanLink): Promise<WanPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-wan-peer-'));
  const root = join(dir, 'data');
  mkdirSync(root);
  const port = await freePort();
  const configPath = join(dir, 'config.yml');
  writeFileSync(configPath, stringify({
    version: '0.1',
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: root }, delete: { enabled: true }, maintenance: { uploadpurging: { enabled: false } } },
    http: { addr: `127.0.0.1:${port}`, secret: 'bench-wan-peer' },
    proxy: { remoteurl: link.upstreamUrl },
  }));
  const proc = spawnProcess('wan peer', DISTRIBUTION_BIN, ['serve', configPath], { env: { ...link.clientEnv, HOME: dir } });
  const stop = async (): Promise<void> => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(`http://127.0.0.1:${port}/v2/`, { process: proc });
  } catch (err) {
    await stop();
    throw err;
  }
  return { host: `127.0.0.1:${port}`, process: proc, stop };
}

/**
 * `skopeo copy docker://REF dir:DEST` as the test helper runs it (temp HOME, empty
 * registries.conf, any policy), but with the link's env: it must reach the far side.
 * skopeo 1.9 has no --image-parallel-copies: containers/image fetches up to 6 layers at
 * once, the same for all three paths. Returns seconds.
 */
export async function wanPull(link: WanLink, ref: string, work: string): Promise<number> {
  const sandbox = mkdtempSync(join(work, 'wan-skopeo-'));
  const conf = join(sandbox, 'registries.conf');
  writeFileSync(conf, '');
  const args = ['--insecure-policy', '--registries-conf', conf, 'copy', '--src-tls-verify=false', `docker://${ref}`, `dir:${join(sandbox, 'image')}`];
  try {
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      execFile('skopeo', args, {
        env: { ...link.clientEnv, HOME: sandbox, XDG_RUNTIME_DIR: sandbox }, timeout: 300_000, killSignal: 'SIGKILL',
      }, (err, _out, stderr) => (err ? reject(new Error(`skopeo ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve()));
    });
    return (performance.now() - started) / 1000;
  } finally {
    rmSync(sandbox, { recursive: true, force: true });
  }
}
