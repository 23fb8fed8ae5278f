/**
 * `registry-mirror backup DIR`, as an operator runs it beside a live server: the backup is a
 * data dir a second server starts on, serving the same bytes; a second run copies only what
 * is new; a corrupt source file is reported (exit 1) and never backed up; --pushed-only
 * leaves mirrored content to be pulled again; a DIR inside the data dir is refused. And the
 * other half of an upgrade: an index a newer version wrote is refused, not run on.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { blobFile, cli, sha256 } from '../helpers/cli.js';
import { startMirror, type MirrorProcess } from '../helpers/mirror.js';
import { basicAuth, createOciClient, type PushedImage } from '../helpers/oci-client.js';

describe('backup', () => {
  let up: FakeUpstream;
  let live: MirrorProcess;
  let env: Record<string, string>;
  let pushed: PushedImage;
  let pushedLayer: Buffer;
  let mirroredLayer: Buffer;
  const dirs: string[] = [];
  const tmp = (prefix: string) => { const d = mkdtempSync(join(tmpdir(), prefix)); dirs.push(d); return d; };

  beforeAll(async () => {
    up = await startFakeUpstream();
    mirroredLayer = randomBytes(300_000);
    up.addImage('library/alpine', '3.20', { layers: [mirroredLayer] });
    const auth = tmp('backup-auth-');
    writeFileSync(join(auth, 'htpasswd'), `alice:${bcrypt.hashSync('secret', 4)}\n`);
    env = { MIRROR_LOCAL_NAMESPACES: 'private/**', MIRROR_AUTH_HTPASSWD: join(auth, 'htpasswd'), MIRROR_UPSTREAM_PREFETCH: '0' };
    live = await startMirror({ upstreamUrl: up.url, env });
    pushedLayer = randomBytes(200_000);
    pushed = await createOciClient(live.url, basicAuth('alice', 'secret')).pushImage('private/app', 'v1', { layers: [pushedLayer] });
    expect((await fetch(`${live.url}/v2/library/alpine/blobs/${sha256(mirroredLayer)}`)).status).toBe(200);
    env = { ...env, MIRROR_STORAGE_PATH: live.dataDir, MIRROR_UPSTREAM_URL: up.url, MIRROR_LOG_LEVEL: 'warn' };
  });
  afterAll(async () => {
    await live?.destroy();
    await up?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** Starts a server on the backup and pulls both images from it; returns how many blobs it fetched from the upstream (GETs of blob bytes). */
  async function restoreAndPull(dir: string): Promise<number> {
    const { MIRROR_STORAGE_PATH: _live, ...serverEnv } = env;
    const restored = await startMirror({ upstreamUrl: up.url, dataDir: dir, env: serverEnv });
    try {
      const before = up.count({ kind: 'cdn', method: 'GET' });
      const pull = createOciClient(restored.url, basicAuth('alice', 'secret'));
      const m = await pull.call('/v2/private/app/manifests/v1', { headers: { accept: pushed.descriptor.mediaType } });
      expect(m.status).toBe(200);
      expect(sha256(m.body)).toBe(pushed.descriptor.digest);
      const layer = await pull.call(`/v2/private/app/blobs/${sha256(pushedLayer)}`);
      expect(layer.status).toBe(200);
      expect(layer.body.equals(pushedLayer)).toBe(true);
      const mirrored = await fetch(`${restored.url}/v2/library/alpine/blobs/${sha256(mirroredLayer)}`);
      expect(mirrored.status).toBe(200);
      expect(Buffer.from(await mirrored.arrayBuffer()).equals(mirroredLayer)).toBe(true);
      return up.count({ kind: 'cdn', method: 'GET' }) - before;
    } finally {
      await restored.stop();
    }
  }

  it('writes a data dir a server starts on, while the live one runs; a second run copies nothing new', async () => {
    const dest = join(tmp('backup-'), 'b');
    const first = await cli(['backup', dest], env);
    expect(first.code, first.stderr).toBe(0);
    const summary = JSON.parse(first.stdout);
    // config + layer pushed, the layer mirrored
    expect(summary).toMatchObject({ blobs: 3, copied: 3, alreadyPresent: 0, missing: 0, corrupt: 0, mirroredSkipped: 0, rowsDropped: 0 });
    expect(readdirSync(dest).sort()).toEqual(['blobs', 'index.db', 'tmp']);
    const again = JSON.parse((await cli(['backup', dest], env)).stdout);
    expect(again).toMatchObject({ blobs: 3, copied: 0, bytesCopied: 0, alreadyPresent: 3 });
    // Everything is served from the backup: no blob fetched again.
    expect(await restoreAndPull(dest)).toBe(0);
    // The live server still answers (the backup took no lock and changed nothing).
    expect((await fetch(`${live.url}/v2/library/alpine/blobs/${sha256(mirroredLayer)}`)).status).toBe(200);
  });

  it('--pushed-only leaves mirrored blobs out: the restored server pulls them again', async () => {
    const dest = join(tmp('backup-'), 'p');
    const r = await cli(['backup', dest, '--pushed-only'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ blobs: 2, copied: 2, mirroredSkipped: 1, rowsDropped: 1, pushedOnly: true });
    expect(existsSync(blobFile(dest, sha256(mirroredLayer)))).toBe(false);
    expect(await restoreAndPull(dest)).toBe(1);
  });

  it('a source file that no longer matches its digest is reported (exit 1) and left out of the backup', async () => {
    const corrupt = tmp('backup-src-');
    // A copy of the live data dir (a backup of it), with the mirrored layer's file damaged.
    expect((await cli(['backup', corrupt], env)).code).toBe(0);
    writeFileSync(blobFile(corrupt, sha256(mirroredLayer)), randomBytes(300_000));
    const dest = join(tmp('backup-'), 'c');
    const r = await cli(['backup', dest], { ...env, MIRROR_STORAGE_PATH: corrupt });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ copied: 2, corrupt: 1, rowsDropped: 1 });
    expect(r.stderr).toMatch(/does not match its digest/);
    expect(existsSync(blobFile(dest, sha256(mirroredLayer)))).toBe(false);
    // The restored server fetches the one left out again, with the right bytes.
    expect(await restoreAndPull(dest)).toBe(1);
  });

  it('refuses a DIR inside the data dir, or one that contains it, and a missing DIR argument (exit 2)', async () => {
    for (const args of [['backup', join(live.dataDir, 'backup')], ['backup', live.dataDir], ['backup', join(live.dataDir, '..')], ['backup']]) {
      const r = await cli(args, env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^registry-mirror: backup: /);
    }
    expect(existsSync(join(live.dataDir, 'backup'))).toBe(false);
  });
});

describe('upgrades', () => {
  it('a server or command refuses an index written by a newer version (exit 2, one line) and changes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirror-downgrade-'));
    try {
      // An index as a newer release leaves it: a schema version past this build's migrations.
      const migrated = await cli(['migrate'], { MIRROR_STORAGE_PATH: dir });
      expect(migrated.code, migrated.stderr).toBe(0);
      const db = new Database(join(dir, 'index.db'));
      const newer = (db.pragma('user_version', { simple: true }) as number) + 1;
      db.pragma(`user_version = ${newer}`);
      db.close();
      for (const args of [['serve'], ['stats', '--json'], ['gc', '--check']]) {
        const r = await cli(args, { MIRROR_STORAGE_PATH: dir, MIRROR_HTTP_ADDR: '127.0.0.1:0' });
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr).toBe(`registry-mirror: the index is at schema version ${newer}, newer than this registry-mirror knows (${newer - 1}): run the newer version again, or restore a backup taken before the upgrade\n`);
      }
      const after = new Database(join(dir, 'index.db'), { readonly: true });
      expect(after.pragma('user_version', { simple: true })).toBe(newer);
      after.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
