/**
 * Issue 13: `registry-mirror migrate-storage` moves a populated single-node data dir (file
 * store + SQLite index) into S3 (radosgw) + PostgreSQL, as an operator runs it: a server
 * started on the target serves every manifest and blob with the same digests without
 * asking the upstream; a rerun copies nothing; an interrupted run completes when run
 * again, even after a SIGKILL mid-copy; a corrupt source blob is reported (exit 1) and never copied; a live server on the
 * source and bad arguments are refused with exit 2.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import bcrypt from 'bcryptjs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateStorage } from '../../src/admin/migrate-storage.js';
import { loadConfig } from '../../src/config/load.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { openS3BlobStore } from '../../src/storage/s3-blob-store.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { blobFile, cli, sha256 } from '../helpers/cli.js';
import { MIRROR_MAIN, startMirror, type MirrorProcess } from '../helpers/mirror.js';
import { basicAuth, createOciClient, type PushedImage } from '../helpers/oci-client.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { s3MirrorEnv, startS3, type S3TestStore } from '../helpers/ceph.js';

describe('migrate-storage', () => {
  let s3: S3TestStore;
  let db: TestPostgres;
  let bucket: string;
  let up: FakeUpstream;
  let live: MirrorProcess;
  let base: Record<string, string>;
  let pushed: PushedImage;
  let pushedLayer: Buffer;
  let mirroredLayer: Buffer;
  let mirroredManifest: string;
  let mirroredConfig: string;
  const dirs: string[] = [];
  const tmp = (prefix: string) => { const d = mkdtempSync(join(tmpdir(), prefix)); dirs.push(d); return d; };

  /** A fresh target: its own key prefix, database and (spool) data dir; MIRROR_* env. */
  async function target(): Promise<{ env: Record<string, string>; prefix: string; url: string }> {
    const prefix = `${s3.freshPrefix()}m${randomBytes(4).toString('hex')}/`;
    const url = await db.createDatabase();
    return {
      prefix, url,
      env: {
        ...base, MIRROR_STORAGE_PATH: tmp('migrate-target-'), ...s3MirrorEnv(s3, bucket, prefix),
        MIRROR_INDEX_DRIVER: 'postgres', MIRROR_INDEX_URL: url,
      },
    };
  }
  const objects = async (prefix: string) =>
    ((await s3.client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!).sort();
  async function blobRows(url: string): Promise<string[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<{ digest: string }>('SELECT digest FROM blobs ORDER BY digest')).rows.map((r) => r.digest);
    } finally {
      await client.end();
    }
  }

  /** A server on `dataDir` with `env`: `check` runs against it, and it must ask the upstream nothing. */
  async function servedWithoutUpstream(dataDir: string, env: Record<string, string>, check: (url: string) => Promise<void>): Promise<void> {
    const served = await startMirror({ upstreamUrl: up.url, dataDir, env });
    try {
      const before = up.requests.length;
      await check(served.url);
      expect(up.requests.length - before).toBe(0);
    } finally {
      await served.stop();
    }
  }

  beforeAll(async () => {
    [s3, db, up] = await Promise.all([startS3(), startPostgres(), startFakeUpstream()]);
    bucket = await s3.createBucket();
    mirroredLayer = randomBytes(300_000);
    const image = up.addImage('library/alpine', '3.20', { layers: [mirroredLayer] });
    mirroredManifest = image.digest;
    mirroredConfig = image.config;
    const auth = tmp('migrate-auth-');
    writeFileSync(join(auth, 'htpasswd'), `alice:${bcrypt.hashSync('secret', 4)}\n`);
    base = {
      MIRROR_LOCAL_NAMESPACES: 'private/**', MIRROR_AUTH_HTPASSWD: join(auth, 'htpasswd'), MIRROR_UPSTREAM_PREFETCH: '0',
      MIRROR_UPSTREAM_URL: up.url, MIRROR_LOG_LEVEL: 'warn',
    };
    live = await startMirror({ upstreamUrl: up.url, env: base });
    pushedLayer = randomBytes(200_000);
    pushed = await createOciClient(live.url, basicAuth('alice', 'secret')).pushImage('private/app', 'v1', { layers: [pushedLayer] });
    expect((await fetch(`${live.url}/v2/library/alpine/manifests/3.20`)).status).toBe(200);
    expect((await fetch(`${live.url}/v2/library/alpine/blobs/${sha256(mirroredLayer)}`)).status).toBe(200);
    expect((await fetch(`${live.url}/v2/library/alpine/blobs/${mirroredConfig}`)).status).toBe(200);
  }, 120_000);
  afterAll(async () => {
    await live?.destroy();
    await up?.close();
    await db?.stop();
    await s3?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('refuses while a server holds the data dir: exit 2 naming its PID, nothing written', async () => {
    const t = await target();
    const r = await cli(['migrate-storage', '--from', live.dataDir], t.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`pid ${live.process.pid}`);
    expect(await objects(t.prefix)).toEqual([]);
  });

  it('refuses hostile arguments with exit 2, naming the problem', async () => {
    const t = await target();
    const none = await cli(['migrate-storage', '--from', live.dataDir], { ...base, MIRROR_STORAGE_PATH: live.dataDir });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/nothing to migrate/);
    const driver = await cli(['migrate-storage'], { ...t.env, MIRROR_STORAGE_DRIVER: 'floppy' });
    expect(driver.code).toBe(2);
    expect(driver.stderr).toMatch(/storage\.driver/);
    const missing = await cli(['migrate-storage', '--from', join(live.dataDir, 'nowhere')], t.env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--from .*nowhere: no such directory/);
    const notData = tmp('migrate-not-data-');
    const noIndex = await cli(['migrate-storage', '--from', notData], t.env);
    expect(noIndex.code).toBe(2);
    expect(noIndex.stderr).toMatch(/no index\.db \(not a data dir\)/);
    writeFileSync(join(notData, 'index.db'), '');
    const oldSchema = await cli(['migrate-storage', '--from', notData], t.env);
    expect(oldSchema.code).toBe(2);
    expect(oldSchema.stderr).toMatch(/index schema 0, this build expects \d+: run `registry-mirror migrate` on it first/);
    const noValue = await cli(['migrate-storage', '--from'], t.env);
    expect(noValue.code).toBe(2);
    expect(noValue.stderr).toMatch(/--from: needs a value/);
  });

  it('copies every blob and row; a server on the target serves them all with zero upstream requests; a rerun copies nothing', async () => {
    await live.stop();
    const t = await target();
    const dry = await cli(['migrate-storage', '--from', live.dataDir, '--dry-run'], t.env);
    expect(dry.code, dry.stderr).toBe(0);
    // config + layer pushed; config + layer mirrored
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, blobs: { copied: 4, alreadyThere: 0, failed: 0 } });
    expect(await objects(t.prefix)).toEqual([]);

    const first = await cli(['migrate-storage', '--from', live.dataDir], t.env);
    expect(first.code, first.stderr).toBe(0);
    const summary = JSON.parse(first.stdout);
    expect(summary.blobs).toMatchObject({ copied: 4, alreadyThere: 0, failed: 0 });
    expect(summary.blobs.bytesCopied).toBeGreaterThan(500_000);
    expect(summary.rows).toMatchObject({ repositories: 2, manifests: 2, repo_manifests: 2, tags: 2, blobs: 4 });
    expect(first.stderr).toMatch(/migrate-storage: blobs done: 4 copied/);
    expect(await objects(t.prefix)).toHaveLength(4);

    const again = await cli(['migrate-storage', '--from', live.dataDir], t.env);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ blobs: { copied: 0, alreadyThere: 4, failed: 0, bytesCopied: 0 }, rows: summary.rows });
    expect(await blobRows(t.url)).toHaveLength(4);

    const { MIRROR_STORAGE_PATH: targetDir, ...serverEnv } = t.env;
    await servedWithoutUpstream(targetDir!, serverEnv, async (url) => {
      const client = createOciClient(url, basicAuth('alice', 'secret'));
      const m = await client.call('/v2/private/app/manifests/v1', { headers: { accept: pushed.descriptor.mediaType } });
      expect(m.status).toBe(200);
      expect(sha256(m.body)).toBe(pushed.descriptor.digest);
      for (const d of [pushed.config, ...pushed.layers]) {
        const b = await client.call(`/v2/private/app/blobs/${d.digest}`);
        expect(b.status).toBe(200);
        expect(sha256(b.body)).toBe(d.digest);
      }
      const mm = await fetch(`${url}/v2/library/alpine/manifests/${mirroredManifest}`);
      expect(mm.status).toBe(200);
      expect(sha256(Buffer.from(await mm.arrayBuffer()))).toBe(mirroredManifest);
      const config = await fetch(`${url}/v2/library/alpine/blobs/${mirroredConfig}`);
      expect(config.status).toBe(200);
      expect(sha256(Buffer.from(await config.arrayBuffer()))).toBe(mirroredConfig);
      const layer = await fetch(`${url}/v2/library/alpine/blobs/${sha256(mirroredLayer)}`);
      expect(layer.status).toBe(200);
      expect(Buffer.from(await layer.arrayBuffer()).equals(mirroredLayer)).toBe(true);
    });
  }, 60_000);

  it('a database that refuses the credentials fails the run before any blob is copied, and the password is never shown', async () => {
    await live.stop();
    const t = await target();
    const denied = await cli(['migrate-storage', '--from', live.dataDir], { ...t.env, MIRROR_INDEX_URL: db.withPassword(t.url, 'n0t-the-Passw0rd') });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/index\.url: cannot open the PostgreSQL index/);
    expect(denied.stderr).not.toContain('n0t-the-Passw0rd');
    expect(await objects(t.prefix)).toEqual([]);
  });

  it('index only (index.driver postgres, blobs stay in storage.path): a server on the copied index serves the same data dir', async () => {
    await live.stop();
    const data = tmp('migrate-pg-only-');
    cpSync(live.dataDir, data, { recursive: true });
    const url = await db.createDatabase();
    const env = { ...base, MIRROR_STORAGE_PATH: data, MIRROR_INDEX_DRIVER: 'postgres', MIRROR_INDEX_URL: url };
    // The blob files stay where they are: the data dir must be storage.path itself.
    const elsewhere = await cli(['migrate-storage', '--from', live.dataDir], env);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toMatch(/is not storage\.path .*the blob store \(storage\.driver: fs\) would stay behind/);
    const r = await cli(['migrate-storage'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ blobs: { copied: 0, alreadyThere: 4, failed: 0 }, rows: { blobs: 4, manifests: 2, tags: 2 } });
    const { MIRROR_STORAGE_PATH: _d, ...serverEnv } = env;
    await servedWithoutUpstream(data, serverEnv, async (url) => {
      const client = createOciClient(url, basicAuth('alice', 'secret'));
      const m = await client.call('/v2/private/app/manifests/v1', { headers: { accept: pushed.descriptor.mediaType } });
      expect(m.status).toBe(200);
      expect(sha256(m.body)).toBe(pushed.descriptor.digest);
      const layer = await fetch(`${url}/v2/library/alpine/blobs/${sha256(mirroredLayer)}`);
      expect(Buffer.from(await layer.arrayBuffer()).equals(mirroredLayer)).toBe(true);
    });
  }, 60_000);

  it('blobs only (storage.driver s3, the SQLite index stays): a server on the data dir serves them from the bucket', async () => {
    await live.stop();
    const data = tmp('migrate-s3-only-');
    cpSync(live.dataDir, data, { recursive: true });
    const t = await target();
    const { MIRROR_INDEX_DRIVER: _i, MIRROR_INDEX_URL: _u, ...s3Env } = t.env;
    const env = { ...s3Env, MIRROR_STORAGE_PATH: data };
    const r = await cli(['migrate-storage'], env);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.blobs).toMatchObject({ copied: 4, alreadyThere: 0, failed: 0 });
    expect(summary.rows).toBeUndefined();
    expect(await objects(t.prefix)).toHaveLength(4);
    // The local files go: what the server serves can only come from the bucket.
    rmSync(join(data, 'blobs'), { recursive: true, force: true });
    const { MIRROR_STORAGE_PATH: _d, ...serverEnv } = env;
    await servedWithoutUpstream(data, serverEnv, async (url) => {
      const layer = await fetch(`${url}/v2/library/alpine/blobs/${sha256(mirroredLayer)}`);
      expect(Buffer.from(await layer.arrayBuffer()).equals(mirroredLayer)).toBe(true);
      const b = await createOciClient(url, basicAuth('alice', 'secret')).call(`/v2/private/app/blobs/${pushed.layers[0]!.digest}`);
      expect(b.status).toBe(200);
      expect(sha256(b.body)).toBe(pushed.layers[0]!.digest);
    });
  }, 60_000);

  it('an interrupted run (the target store fails on a blob) completes when run again', async () => {
    await live.stop();
    const t = await target();
    const config = loadConfig({ env: t.env });
    const real = await openS3BlobStore(config.storage.s3!, config.storage.path);
    let writers = 0;
    const failing: BlobStore = {
      ...real,
      async createWriter(expected) {
        if (++writers === 3) throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
        return real.createWriter(expected);
      },
    };
    const err = await migrateStorage({ config, from: live.dataDir, dryRun: false, target: { store: failing } }).then(() => undefined, (e: unknown) => e);
    expect((err as Error).message).toBe('connection reset');
    const partial = (await objects(t.prefix)).length;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(4);
    const rerun = await cli(['migrate-storage', '--from', live.dataDir], t.env);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout).blobs).toMatchObject({ copied: 4 - partial, alreadyThere: partial, failed: 0 });
    expect(await objects(t.prefix)).toHaveLength(4);
    expect(await blobRows(t.url)).toHaveLength(4);
  }, 60_000);

  it('a run killed (SIGKILL) mid-copy leaves nothing partial and completes when run again; every object verifies', async () => {
    // A source of its own: 16 layers of 3 MiB and two of 10 MiB (multipart), pulled through a mirror.
    const layers = [...Array.from({ length: 16 }, () => randomBytes(3 * 1024 * 1024)), randomBytes(10 * 1024 * 1024), randomBytes(10 * 1024 * 1024)];
    up.addImage('library/big', 'v1', { layers });
    const source = tmp('migrate-killed-');
    const filler = await startMirror({ upstreamUrl: up.url, dataDir: source, env: base });
    try {
      for (const l of layers) expect((await fetch(`${filler.url}/v2/library/big/blobs/${sha256(l)}`).then(async (r) => sha256(Buffer.from(await r.arrayBuffer()))))).toBe(sha256(l));
    } finally {
      await filler.stop();
    }
    const t = await target();
    const child = spawn(process.execPath, [MIRROR_MAIN, 'migrate-storage', '--from', source], { env: { PATH: process.env.PATH ?? '', ...t.env }, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    // Killed as soon as the first blob is in the bucket: mid-copy.
    while ((await objects(t.prefix)).length === 0) await sleep(5);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const partial = await objects(t.prefix);
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.length).toBeLessThan(layers.length);

    // The dead process's data-dir lock is taken over; the rerun copies only what is missing.
    const rerun = await cli(['migrate-storage', '--from', source], t.env);
    expect(rerun.code, rerun.stderr).toBe(0);
    const blobs = JSON.parse(rerun.stdout).blobs as { copied: number; alreadyThere: number; failed: number };
    expect(blobs.failed).toBe(0);
    expect(blobs.alreadyThere).toBeGreaterThanOrEqual(partial.length);
    expect(blobs.copied + blobs.alreadyThere).toBe(layers.length);
    // Every object under blobs/ is a whole, verified blob named by its digest.
    const keys = await objects(t.prefix);
    expect(keys).toHaveLength(layers.length);
    const store = await openS3BlobStore(loadConfig({ env: t.env }).storage.s3!, t.env.MIRROR_STORAGE_PATH!);
    for (const key of keys) {
      const digest = `sha256:${key.split('/').at(-1)}`;
      const hash = createHash('sha256');
      for await (const chunk of await store.open(digest)) hash.update(chunk as Buffer);
      expect(`sha256:${hash.digest('hex')}`).toBe(digest);
    }
    expect(await blobRows(t.url)).toEqual(layers.map(sha256).sort());
  }, 120_000);

  it('a source blob whose bytes do not match its digest is reported and not copied: exit 1', async () => {
    await live.stop();
    const source = tmp('migrate-corrupt-');
    cpSync(live.dataDir, source, { recursive: true });
    const bad = sha256(mirroredLayer);
    writeFileSync(blobFile(source, bad), randomBytes(300_000));
    const t = await target();
    const r = await cli(['migrate-storage', '--from', source], t.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}: bytes do not match the digest, not copied`);
    expect(JSON.parse(r.stdout).blobs).toMatchObject({ copied: 3, failed: 1, failedDigests: [bad] });
    expect((await objects(t.prefix)).some((k) => k.endsWith(bad.slice(7)))).toBe(false);
    const rows = await blobRows(t.url);
    expect(rows).toHaveLength(3);
    expect(rows).not.toContain(bad);
  }, 60_000);
});
