/**
 * nginx, in two roles:
 * - the ceiling: files served with sendfile (what "send a cached blob" or "send these
 *   manifest bytes" can cost);
 * - the taps: a reverse proxy in front of the upstream per system, whose access log
 *   counts that system's upstream requests. nginx rather than a Node proxy, because a
 *   Node proxy in the bench's own process added ~0.4 s to a 200 MiB pull on this
 *   machine, blurring the very cold-pull ratio it was counting for.
 * It runs in the foreground (daemon off), so its master is our child and stops by PID;
 * its pid file, logs and temp dirs live in a temp dir.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/helpers/free-port.js';
import { spawnProcess, waitForHttp, type ProcessHandle } from '../test/helpers/processes.js';

const NGINX_BIN = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';

interface NginxProcess {
  dir: string;
  process: ProcessHandle;
  stop(): Promise<void>;
}

/** Starts nginx with these `http {}` blocks; resolves once `readyUrl` answers 200..499. */
async function startNginx(httpBlocks: (dir: string) => string, readyUrl: string): Promise<NginxProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
  const temp = (name: string): string => `${name} ${join(dir, name)};`;
  writeFileSync(join(dir, 'nginx.conf'), `
# Workers read files inside 0700 temp dirs, so as root they stay root.
${process.getuid?.() === 0 ? 'user root;' : ''}
daemon off;
worker_processes auto;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  ${temp('client_body_temp_path')} ${temp('proxy_temp_path')} ${temp('fastcgi_temp_path')}
  ${temp('uwsgi_temp_path')} ${temp('scgi_temp_path')}
  ${httpBlocks(dir)}
}
`);
  const proc = spawnProcess('nginx', NGINX_BIN, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')]);
  const stop = async (): Promise<void> => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(readyUrl, { process: proc, accept: (s) => s < 500 });
  } catch (err) {
    await stop();
    throw err;
  }
  return { dir, process: proc, stop };
}

export interface NginxFileServer<K extends string> {
  /** URL of each served file. */
  urls: Record<K, string>;
  process: ProcessHandle;
  stop(): Promise<void>;
}

/** Serve each file (any path) at http://127.0.0.1:PORT/<key>, with sendfile. */
export async function startNginxFileServer<K extends string>(files: Record<K, string>): Promise<NginxFileServer<K>> {
  const port = await freePort();
  const keys = Object.keys(files) as K[];
  const urls = Object.fromEntries(keys.map((k) => [k, `http://127.0.0.1:${port}/${k}`])) as Record<K, string>;
  const nginx = await startNginx(() => `
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    ${keys.map((k) => `location = /${k} { alias ${files[k]}; }`).join('\n    ')}
  }`, urls[keys[0]!]);
  return { urls, process: nginx.process, stop: nginx.stop };
}

export interface TappedRequest {
  method: string;
  path: string;
  status: number;
}

export interface UpstreamTap {
  url: string;
  /** Requests completed so far (nginx logs a request when its response has ended). */
  requests(): TappedRequest[];
}

/** One reverse proxy to `target` per name, each on its own port with its own access log. */
export async function startUpstreamTaps<N extends string>(target: string, names: readonly N[]): Promise<{
  taps: Record<N, UpstreamTap>;
  process: ProcessHandle;
  stop(): Promise<void>;
}> {
  const ports = await Promise.all(names.map(() => freePort()));
  const logOf = (dir: string, name: string): string => join(dir, `${name}.access.log`);
  let logDir = '';
  const nginx = await startNginx((dir) => {
    logDir = dir;
    const up = new URL(target).host;
    return `
  log_format tap '$request_method $request_uri $status';
  upstream registry { server ${up}; keepalive 64; }
  ${names.map((name, i) => `
  server {
    listen 127.0.0.1:${ports[i]};
    access_log ${logOf(dir, name)} tap;
    client_max_body_size 0;
    location / {
      proxy_pass http://registry;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host ${up};
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 300s;
    }
  }`).join('\n')}`;
  }, `http://127.0.0.1:${ports[0]}/v2/`);
  const taps = Object.fromEntries(names.map((name, i) => [name, {
    url: `http://127.0.0.1:${ports[i]}`,
    requests: (): TappedRequest[] => {
      const file = logOf(logDir, name);
      if (!existsSync(file)) return [];
      return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => {
        const [method = '', path = '', status = '0'] = line.split(' ');
        return { method, path, status: Number(status) };
      });
    },
  }])) as Record<N, UpstreamTap>;
  return { taps, process: nginx.process, stop: nginx.stop };
}
