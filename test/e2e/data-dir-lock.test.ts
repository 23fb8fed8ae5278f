/**
 * Two processes on one data dir (issue 7, finding 14): a second `serve` on the data dir
 * of a running one exits with code 2 and one line naming the holder's PID, and does not
 * touch the first one's in-progress upload, which then completes. Real processes from
 * dist/main.js, as users run them.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { freePort } from '../helpers/free-port.js';
import { MIRROR_MAIN, startMirror, type MirrorProcess } from '../helpers/mirror.js';
import { basicAuth, createOciClient, makeHtpasswd, sha256 } from '../helpers/oci-client.js';
import { spawnProcess, type ProcessHandle } from '../helpers/processes.js';

describe('the data dir lock', () => {
  let up: FakeUpstream;
  let htpasswd: { file: string; remove(): void };
  let first: MirrorProcess | undefined;
  let second: ProcessHandle | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    up = await startFakeUpstream();
    htpasswd = makeHtpasswd({ alice: 'secret' });
    env = { MIRROR_LOCAL_NAMESPACES: 'team/*', MIRROR_AUTH_HTPASSWD: htpasswd.file };
  });
  afterAll(async () => {
    await second?.stop();
    await first?.destroy();
    await up?.close();
    htpasswd?.remove();
  });

  test('a second serve exits 2 naming the first one\'s PID, and the first one\'s upload still completes', async () => {
    first = await startMirror({ upstreamUrl: up.url, env });
    const alice = createOciClient(first.url, basicAuth('alice', 'secret'));
    const head = randomBytes(20_000);
    const tail = randomBytes(20_000);
    const loc = await alice.startUpload('team/app');
    expect((await alice.call(loc, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' }, body: head })).status).toBe(202);
    expect(readFileSync(join(first.dataDir, 'lock'), 'utf8').trim()).toBe(String(first.process.pid));

    const port = await freePort();
    second = spawnProcess('second', process.execPath, [MIRROR_MAIN, 'serve'], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin', MIRROR_HTTP_ADDR: `127.0.0.1:${port}`, MIRROR_STORAGE_PATH: first.dataDir,
        MIRROR_UPSTREAM_URL: up.url, MIRROR_LOG_LEVEL: 'warn', ...env,
      },
    });
    await Promise.race([second.exited, new Promise((r) => setTimeout(r, 10_000))]);
    expect(second.exitStatus()).toBe(2);
    const lines = second.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`pid ${first.process.pid}`);

    const u = new URL(loc);
    u.searchParams.set('digest', sha256(Buffer.concat([head, tail])));
    const put = await alice.call(u.toString(), { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: tail });
    expect(put.status).toBe(201);
    const get = await alice.call(`/v2/team/app/blobs/${sha256(Buffer.concat([head, tail]))}`);
    expect(get.body.equals(Buffer.concat([head, tail]))).toBe(true);
  });

  test('a lock left by a process that is gone (SIGKILL) is taken over at the next start', async () => {
    const crashed = await startMirror({ upstreamUrl: up.url, env });
    await crashed.kill();
    expect(readFileSync(join(crashed.dataDir, 'lock'), 'utf8').trim()).toBe(String(crashed.process.pid));
    const again = await startMirror({ upstreamUrl: up.url, env, dataDir: crashed.dataDir });
    try {
      expect(readFileSync(join(crashed.dataDir, 'lock'), 'utf8').trim()).toBe(String(again.process.pid));
      expect(again.process.output()).toContain('took over the data dir lock');
    } finally {
      await again.stop();
      await crashed.destroy();
    }
  });
});
