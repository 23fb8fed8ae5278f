/**
 * An anonymous `docker push` to a local namespace fails at once with a clear message. Our
 * 401 once had no `detail`, which dockerd treats as retryable: it spun for ~50 s before
 * printing "unauthorized". Real dockerd (private, see helpers/dockerd.ts), the mirror from
 * dist/, with users (htpasswd) and without (the default anonymous mirror).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { htpasswdText } from '../helpers/htpasswd.js';
import { tarGzLayer } from '../helpers/layers.js';
import { startMirror, type MirrorProcess } from '../helpers/mirror.js';

/** A failure-mode bound, not a benchmark: dockerd's retries took ~50 s. */
const PROMPT_MS = 20_000;

describe('anonymous docker push to a local namespace', () => {
  let work: string;
  let withUsers: MirrorProcess;
  let noUsers: MirrorProcess;
  let dockerd: Dockerd;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'docker-push-auth-'));
    const htpasswd = join(work, 'htpasswd');
    writeFileSync(htpasswd, htpasswdText({ alice: 'secret' }));
    writeFileSync(join(work, 'rootfs.tar.gz'), tarGzLayer({ 'hello.txt': 'hello\n' }).blob);
    // The upstream is never asked: pushes go to the local namespace.
    const upstreamUrl = 'http://127.0.0.1:9';
    withUsers = await startMirror({ upstreamUrl, env: { MIRROR_LOCAL_NAMESPACES: 'team/*', MIRROR_AUTH_HTPASSWD: htpasswd } });
    noUsers = await startMirror({ upstreamUrl, env: { MIRROR_LOCAL_NAMESPACES: 'team/*' } });
    dockerd = await startDockerd({ registryMirror: withUsers.url });
  });

  afterAll(async () => {
    await dockerd?.stop();
    await withUsers?.destroy();
    await noUsers?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test.each([
    ['with users configured', () => withUsers],
    ['without users (no htpasswd)', () => noUsers],
  ])('%s: fails promptly, saying unauthorized / authentication required', async (_case, mirror) => {
    const ref = `${mirror().host}/team/app:1`;
    await dockerd.docker(['import', join(work, 'rootfs.tar.gz'), ref]);
    const outcome = await dockerd.docker(['push', ref], PROMPT_MS).then(
      () => new Error('docker push succeeded'),
      (err: Error) => err,
    );
    expect(outcome.message).not.toBe('docker push succeeded');
    // run() kills the client at PROMPT_MS; a killed push would name the signal, not the registry's answer.
    expect(outcome.message).not.toMatch(/SIGTERM|failed \(null\)/);
    expect(outcome.message).toMatch(/unauthorized|authentication required/i);
  });
});
