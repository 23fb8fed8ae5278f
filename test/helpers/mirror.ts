/**
 * The mirror as a user runs it: `node dist/main.js serve`, configured by MIRROR_* env
 * on a free port and a temp data dir, stopped by PID. dist/ is built by global-setup.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'undici';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';
import { spawnProcess, waitForHttp, type ProcessHandle } from './processes.js';

export const MIRROR_MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface MirrorOptions {
  upstreamUrl: string;
  /** Reuse a data dir (restart after a crash); a new temp dir otherwise. */
  dataDir?: string;
  env?: Record<string, string>;
  /** 'https' when the env configures TLS; `caFile` then verifies the mirror's certificate. */
  scheme?: 'http' | 'https';
  caFile?: string;
}

export interface MirrorProcess {
  url: string;
  host: string;
  port: number;
  dataDir: string;
  process: ProcessHandle;
  /** SIGTERM (graceful), then SIGKILL. */
  stop(): Promise<void>;
  /** SIGKILL at once, as a crash would. */
  kill(): Promise<void>;
  /** Removes the data dir too (only one this helper created). */
  destroy(): Promise<void>;
}

export async function startMirror(options: MirrorOptions): Promise<MirrorProcess> {
  const ownsDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'mirror-data-'));
  const port = await freePort();
  const proc = spawnProcess('mirror', process.execPath, [MIRROR_MAIN, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      MIRROR_HTTP_ADDR: `127.0.0.1:${port}`,
      MIRROR_STORAGE_PATH: dataDir,
      MIRROR_UPSTREAM_URL: options.upstreamUrl,
      MIRROR_LOG_LEVEL: 'warn',
      ...options.env,
    },
  });
  const url = `${options.scheme ?? 'http'}://127.0.0.1:${port}`;
  const dispatcher = options.caFile ? new Agent({ connect: { ca: readFileSync(options.caFile) } }) : undefined;
  await waitForHttp(`${url}/healthz`, { process: proc, accept: (s) => s === 200, dispatcher });
  await dispatcher?.close();
  return {
    url,
    host: `127.0.0.1:${port}`,
    port,
    dataDir,
    process: proc,
    stop: () => proc.stop(),
    async kill() {
      try {
        process.kill(proc.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await proc.exited;
    },
    async destroy() {
      await proc.stop();
      if (ownsDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
