/**
 * nginx serving one file with sendfile: the practical ceiling for "send a cached blob
 * from disk". Runs in the foreground (daemon off) so its master is our child and stops
 * by PID; all its paths (pid, logs, temp dirs) are inside a temp dir.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { freePort } from '../test/helpers/free-port.js';
import { spawnProcess, waitForHttp, type ProcessHandle } from '../test/helpers/processes.js';

export interface Nginx {
  /** URL of the served file. */
  fileUrl: string;
  process: ProcessHandle;
  stop(): Promise<void>;
}

const NGINX_BIN = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';

/** Serve `file` (any path) at http://127.0.0.1:PORT/<its name>. */
export async function startNginx(file: string): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
  const port = await freePort();
  const temp = (name: string): string => `${name} ${join(dir, name)};`;
  const conf = `
# Workers read a file inside a 0700 temp dir, so as root they stay root.
${process.getuid?.() === 0 ? 'user root;' : ''}
daemon off;
worker_processes auto;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  ${temp('client_body_temp_path')} ${temp('proxy_temp_path')} ${temp('fastcgi_temp_path')}
  ${temp('uwsgi_temp_path')} ${temp('scgi_temp_path')}
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    location / { root ${dirname(file)}; }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const proc = spawnProcess('nginx', NGINX_BIN, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')]);
  const fileUrl = `http://127.0.0.1:${port}/${basename(file)}`;
  const stop = async (): Promise<void> => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(fileUrl, { process: proc, accept: (s) => s === 200 });
  } catch (err) {
    await stop();
    throw err;
  }
  return { fileUrl, process: proc, stop };
}
