/**
 * Private container engines for end-to-end tests, isolated from this machine's own:
 * every root, state dir, socket, pidfile and config lives in a temp dir, nothing
 * listens on TCP, and the proxy env points at a dead port (a fallback to Docker Hub
 * fails fast). Debian's `docker.io` brings dockerd, containerd, ctr and runc.
 *
 * ```ts
 * const engine = await startDockerd({ registryMirror: mirror.url });
 * afterAll(() => engine.stop());
 * await engine.docker(['pull', 'library/alpine:3.20']);   // via the mirror
 *
 * const ctd = await startContainerd();
 * await ctd.ctr(['images', 'pull', '--hosts-dir', dir, 'docker.io/library/alpine:3.20']);
 * ```
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { OFFLINE_ENV } from './distribution.js';
import { spawnProcess, waitForHttp, type ProcessHandle } from './processes.js';

export const DOCKERD_BIN = '/usr/sbin/dockerd';
/** The CLI from the same package (a newer `docker` may come first in PATH). */
export const DOCKER_BIN = '/usr/bin/docker';
export const CONTAINERD_BIN = '/usr/bin/containerd';
export const CTR_BIN = '/usr/bin/ctr';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export interface Engine {
  /** Temp dir holding everything of this engine. */
  readonly dir: string;
  readonly process: ProcessHandle;
  /** Stop by PID (SIGTERM, then SIGKILL), then remove the temp dir. */
  stop(): Promise<void>;
}

export interface Dockerd extends Engine {
  readonly socket: string;
  /** `docker -H unix://SOCKET ARGS...`; rejects with its output when it exits non-zero. */
  docker(args: readonly string[], timeoutMs?: number): Promise<CommandResult>;
}

export interface Containerd extends Engine {
  readonly address: string;
  /** `ctr -a ADDRESS -n NAMESPACE ARGS...` (namespace "e2e"). */
  ctr(args: readonly string[], timeoutMs?: number): Promise<CommandResult>;
}

const baseEnv = (home: string): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: home,
  ...OFFLINE_ENV,
});

/** Run a command; resolve with its output, or reject with a message that includes it. */
export function run(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 90_000,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${command} ${args.join(' ')} failed (${err.code ?? err.signal}):\n${stdout}\n${stderr}`));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

export interface DockerdOptions {
  /** `registry-mirrors` entry, e.g. http://127.0.0.1:PORT (also listed as insecure). */
  registryMirror: string;
}

/**
 * dockerd with the vfs storage driver and no networking of its own (no bridge, no
 * iptables), configured by its own daemon.json (never /etc/docker's). It starts and
 * supervises its own containerd under the temp exec-root.
 */
export async function startDockerd(options: DockerdOptions): Promise<Dockerd> {
  const dir = mkdtempSync(join(tmpdir(), 'dockerd-'));
  const socket = join(dir, 'docker.sock');
  const mirror = new URL(options.registryMirror);
  const config = {
    'data-root': join(dir, 'data'),
    'exec-root': join(dir, 'exec'),
    pidfile: join(dir, 'docker.pid'),
    hosts: [`unix://${socket}`],
    'storage-driver': 'vfs',
    iptables: false,
    ip6tables: false,
    bridge: 'none',
    'ip-forward': false,
    'ip-masq': false,
    'exec-opts': ['native.cgroupdriver=cgroupfs'],
    'registry-mirrors': [mirror.origin],
    'insecure-registries': [mirror.host],
    // dockerd 20.10 writes its identity key to /etc/docker/key.json by default.
    'deprecated-key-path': join(dir, 'key.json'),
  };
  const configPath = join(dir, 'daemon.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const proc = spawnProcess('dockerd', DOCKERD_BIN, ['--config-file', configPath], {
    env: baseEnv(dir),
    logFile: join(dir, 'dockerd.log'),
  });
  const dispatcher = new Agent({ connect: { socketPath: socket } });
  const stop = async (): Promise<void> => {
    // dockerd stops the containerd it started; kill that one too if dockerd could not.
    const containerdPid = readPid(join(dir, 'exec', 'containerd', 'containerd.pid'));
    await proc.stop(15_000);
    if (containerdPid !== undefined) await killPid(containerdPid);
    await dispatcher.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForHttp('http://docker/_ping', { process: proc, dispatcher, accept: (s) => s === 200, timeoutMs: 60_000 });
  } catch (err) {
    await stop();
    throw err;
  }
  const cliEnv = { ...baseEnv(dir), DOCKER_CONFIG: join(dir, 'cli') };
  return {
    dir,
    socket,
    process: proc,
    docker: (args, timeoutMs) => run(DOCKER_BIN, ['-H', `unix://${socket}`, ...args], cliEnv, timeoutMs),
    stop,
  };
}

/** containerd with its own root, state and socket, the native snapshotter, no CRI. */
export async function startContainerd(): Promise<Containerd> {
  const dir = mkdtempSync(join(tmpdir(), 'containerd-'));
  const address = join(dir, 'containerd.sock');
  mkdirSync(join(dir, 'root'));
  mkdirSync(join(dir, 'state'));
  const configPath = join(dir, 'config.toml');
  writeFileSync(configPath, [
    'version = 2',
    `root = "${join(dir, 'root')}"`,
    `state = "${join(dir, 'state')}"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${address}"`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = "${join(dir, 'opt')}"`,
    '',
  ].join('\n'));
  const proc = spawnProcess('containerd', CONTAINERD_BIN, ['--config', configPath], {
    env: baseEnv(dir),
    logFile: join(dir, 'containerd.log'),
  });
  const env = baseEnv(dir);
  const ctr = (args: readonly string[], timeoutMs?: number) =>
    run(CTR_BIN, ['-a', address, '-n', 'e2e', ...args], env, timeoutMs);
  const stop = async (): Promise<void> => {
    await proc.stop(15_000);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitStatus() !== undefined) {
      await stop();
      throw new Error(`containerd exited (${String(proc.exitStatus())}):\n${proc.output()}`);
    }
    try {
      await ctr(['version'], 5_000);
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`containerd did not answer on ${address}: ${(err as Error).message}\n${proc.output()}`);
      }
      await sleep(100);
    }
  }
  return { dir, address, process: proc, ctr, stop };
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** SIGTERM, then SIGKILL, a containerd by PID (only while that PID is still a containerd). */
async function killPid(pid: number): Promise<void> {
  try {
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'containerd') return;
  } catch {
    return; // gone
  }
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 50; i++) {
    await sleep(100);
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}
