/**
 * The app for the hostile-input suites: a fake upstream, local namespaces `team/*` (alice
 * pushes), users made with bcryptjs (no htpasswd binary), access logging on, and a logger
 * whose lines the test can read. Served by node:http with the app's own listener, so the
 * fast path and the full pipeline are both exercised exactly as in production.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { loadConfig } from '../../src/config/load.js';
import { NO_BREAKER } from '../helpers/mirror-app.js';
import { createCore } from '../../src/core.js';
import { createApp } from '../../src/http/app.js';
import { createLogger } from '../../src/log/logger.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';

export const ALICE = `Basic ${Buffer.from('alice:secret').toString('base64')}`;

export interface HostileServer {
  url: string;
  port: number;
  up: FakeUpstream;
  /** Every log line written so far, parsed. */
  lines(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startHostileServer(env: Record<string, string> = {}): Promise<HostileServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mirror-hostile-'));
  const htpasswd = join(dataDir, 'htpasswd');
  writeFileSync(htpasswd, `alice:${bcrypt.hashSync('secret', 4)}\n`);
  const up = await startFakeUpstream();
  const config = loadConfig({
    env: {
      MIRROR_STORAGE_PATH: join(dataDir, 'data'),
      MIRROR_UPSTREAM_URL: up.url,
      MIRROR_UPSTREAM_CONNECT_TIMEOUT: '2s',
      MIRROR_UPSTREAM_TIMEOUT: '3s',
      MIRROR_UPSTREAM_TAG_TTL: '10m',
      MIRROR_LOG_ACCESS: 'true',
      MIRROR_LOCAL_NAMESPACES: 'team/*',
      MIRROR_AUTH_HTPASSWD: htpasswd,
      MIRROR_AUTH_RULES: JSON.stringify([{ repository: 'team/*', pull: ['*'], push: ['alice'], delete: ['alice'] }]),
      ...env,
    },
  });
  const text: string[] = [];
  const log = createLogger('info', (l) => { text.push(l); });
  // The corpus asserts each request's answer while the upstream fails: no breaker opening.
  const core = await createCore({ ...config, upstream: { ...config.upstream, breaker: NO_BREAKER } }, { log });
  const { listener, stop, clientError } = createApp(core);
  const server: Server = createServer(listener);
  server.on('clientError', clientError);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    up,
    lines: () => text.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await stop();
      await core.close();
      await up.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
