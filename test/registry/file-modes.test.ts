/**
 * Data files are private (issue 7, finding 13): after a push and a mirrored pull through
 * the server as `serve` composes it, every file under the data dir (blobs, temp files,
 * index.db and its -wal/-shm, token-secret, lock) is 0600 and every directory, the data
 * dir itself included, 0700 — by explicit modes, whatever the process umask.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { basicAuth, createOciClient, makeHtpasswd } from '../helpers/oci-client.js';

describe('file modes under the data dir', () => {
  let up: FakeUpstream;
  let parent: string;
  let dataDir: string;
  let htpasswd: { file: string; remove(): void };
  let running: RunningServer;
  const umask = process.umask(0o022);

  beforeAll(async () => {
    up = await startFakeUpstream();
    parent = mkdtempSync(join(tmpdir(), 'mirror-modes-'));
    dataDir = join(parent, 'data'); // created by the server
    htpasswd = makeHtpasswd({ alice: 'secret' });
    const config = loadConfig({
      env: {
        MIRROR_HTTP_ADDR: '127.0.0.1:0', MIRROR_STORAGE_PATH: dataDir, MIRROR_UPSTREAM_URL: up.url,
        MIRROR_LOCAL_NAMESPACES: 'team/*', MIRROR_AUTH_HTPASSWD: htpasswd.file, MIRROR_LOG_ACCESS: 'false',
      },
    });
    running = await startServer(config, silentLogger);
  });
  afterAll(async () => {
    await running?.close();
    await up?.close();
    htpasswd?.remove();
    rmSync(parent, { recursive: true, force: true });
    process.umask(umask);
  });

  test('after a push and a pull every file is 0600 and every directory 0700', async () => {
    const url = `http://127.0.0.1:${running.port}`;
    const alice = createOciClient(url, basicAuth('alice', 'secret'));
    await alice.pushImage('team/app', 'v1', { layers: [randomBytes(3000)] });
    const open = await alice.startUpload('team/app'); // an upload in progress: its temp file too
    await alice.call(open, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' }, body: randomBytes(100) });
    const digest = up.addBlob(randomBytes(4000));
    expect((await createOciClient(url).call(`/v2/library/alpine/blobs/${digest}`)).status).toBe(200);

    const entries = readdirSync(dataDir, { withFileTypes: true, recursive: true });
    const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
    const files = entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
    const dirs = [dataDir, ...entries.filter((e) => e.isDirectory()).map((e) => join(e.parentPath, e.name))];
    expect(files.map((f) => f.slice(dataDir.length + 1))).toEqual(expect.arrayContaining(['index.db', 'index.db-wal', 'lock', 'token-secret']));
    expect(files.some((f) => f.includes('/blobs/sha256/'))).toBe(true);
    expect(files.some((f) => f.includes('/tmp/'))).toBe(true);
    expect(Object.fromEntries(files.map((f) => [f, mode(f)]))).toEqual(Object.fromEntries(files.map((f) => [f, '600'])));
    expect(Object.fromEntries(dirs.map((d) => [d, mode(d)]))).toEqual(Object.fromEntries(dirs.map((d) => [d, '700'])));
  });
});
