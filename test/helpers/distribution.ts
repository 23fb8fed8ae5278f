/**
 * A real registry for end-to-end tests: CNCF Distribution 2.8 (Debian's
 * `docker-registry`) on 127.0.0.1, storing in a temp dir, optionally behind
 * token auth that answers like Docker Hub (401 + Bearer challenge).
 *
 * ```ts
 * const upstream = await startDistribution({ tokenAuth: true });
 * afterAll(() => upstream.stop());
 * // upstream.url = http://127.0.0.1:PORT, upstream.tokenServer.realm = .../token
 * ```
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './free-port.js';
import { spawnProcess, waitForHttp, type ProcessHandle } from './processes.js';
import { startTokenServer, type TokenServer, type TokenServerOptions } from './token-server.js';

export const DISTRIBUTION_BIN = '/usr/bin/docker-registry';

/** Env for child processes that talk only to 127.0.0.1: any proxied request fails fast. */
export const OFFLINE_ENV: Readonly<Record<string, string>> = {
  HTTP_PROXY: 'http://127.0.0.1:9',
  HTTPS_PROXY: 'http://127.0.0.1:9',
  http_proxy: 'http://127.0.0.1:9',
  https_proxy: 'http://127.0.0.1:9',
  NO_PROXY: '127.0.0.0/8,localhost',
  no_proxy: '127.0.0.0/8,localhost',
};

export interface DistributionOptions {
  /**
   * Protect the registry with token auth. `true` starts a token server for it
   * (stopped by `stop()`); pass a running TokenServer to share one (not stopped).
   */
  tokenAuth?: boolean | TokenServer;
  /** Options for the token server started when `tokenAuth` is `true`. */
  tokenServerOptions?: TokenServerOptions;
  /** `auth.token.service` and the `aud` of the tokens (default registry.docker.io). */
  service?: string;
  /** Run as a pull-through cache of this registry (Distribution's `proxy.remoteurl`). */
  proxyRemoteUrl?: string;
  proxyUsername?: string;
  proxyPassword?: string;
  /** Distribution log level (default warn). */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
}

export interface Distribution {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT, for image references like `${host}/library/alpine:3` */
  readonly host: string;
  readonly port: number;
  /** Temp dir with config.yml and the storage root (data/). */
  readonly dir: string;
  readonly configPath: string;
  /** The token server when `tokenAuth` is set. */
  readonly tokenServer: TokenServer | undefined;
  readonly process: ProcessHandle;
  /** Stop the registry (and the token server it started), remove the temp dir. */
  stop(): Promise<void>;
}

export async function startDistribution(options: DistributionOptions = {}): Promise<Distribution> {
  const ownsTokenServer = options.tokenAuth === true;
  const tokenServer = options.tokenAuth === true
    ? await startTokenServer(options.tokenServerOptions)
    : options.tokenAuth || undefined;
  const dir = mkdtempSync(join(tmpdir(), 'distribution-'));
  const cleanup = async (): Promise<void> => {
    if (ownsTokenServer) await tokenServer?.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  // freePort() can race with other workers: retry a few times on a bind failure.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const configPath = join(dir, 'config.yml');
    writeFileSync(configPath, stringify(buildConfig(dir, port, tokenServer, options)));
    const proc = spawnProcess('docker-registry', DISTRIBUTION_BIN, ['serve', configPath], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...OFFLINE_ENV },
      logFile: join(dir, 'registry.log'),
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForHttp(`${url}/v2/`, {
        process: proc,
        accept: (s) => s === 200 || s === 401,
      });
    } catch (err) {
      lastError = err;
      await proc.stop();
      if (/address already in use/.test(proc.output())) continue;
      break;
    }
    return {
      url, host: `127.0.0.1:${port}`, port, dir, configPath, tokenServer, process: proc,
      stop: async () => {
        await proc.stop();
        await cleanup();
      },
    };
  }
  await cleanup();
  throw lastError;
}

function buildConfig(
  dir: string,
  port: number,
  tokenServer: TokenServer | undefined,
  options: DistributionOptions,
): Record<string, unknown> {
  const root = join(dir, 'data');
  mkdirSync(root, { recursive: true });
  const config: Record<string, unknown> = {
    version: '0.1',
    log: { level: options.logLevel ?? 'warn', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: root },
      delete: { enabled: true },
      // No background purge of upload dirs during a test run.
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: {
      addr: `127.0.0.1:${port}`,
      // A fixed secret silences the "no secret" warning and keeps upload state valid.
      secret: randomBytes(16).toString('hex'),
    },
  };
  if (tokenServer) {
    config.auth = {
      token: {
        realm: tokenServer.realm,
        service: options.service ?? 'registry.docker.io',
        issuer: tokenServer.issuer,
        rootcertbundle: tokenServer.certPath,
      },
    };
  }
  if (options.proxyRemoteUrl) {
    config.proxy = {
      remoteurl: options.proxyRemoteUrl,
      ...(options.proxyUsername ? { username: options.proxyUsername } : {}),
      ...(options.proxyPassword ? { password: options.proxyPassword } : {}),
    };
  }
  return config;
}
