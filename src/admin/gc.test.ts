import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDigest } from '../oci/digest.js';
import { MEDIA_TYPES } from '../oci/manifest.js';
import { createLocalRegistry } from '../registry/registry.js';
import type { BlobStore } from '../storage/blob-store.js';
import { blobPath, createFsBlobStore } from '../storage/fs-blob-store.js';
import { AccessBatcher } from '../storage/access-batcher.js';
import type { MaintenanceIndex, StoragePorts } from '../storage/ports.js';
import { openSqliteStorage } from '../storage/sqlite-index.js';
import { collectGarbage } from './gc.js';

const HOUR = 3_600_000;
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let dir: string;
let store: BlobStore;
let ports: StoragePorts;
let access: AccessBatcher;
let closeIndex: () => void;
/** The port GC uses. */
let maintenance: MaintenanceIndex;
let clock: number;
let registry: ReturnType<typeof createLocalRegistry>;
let peekDb: Database.Database | undefined;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mirror-gc-'));
  store = await createFsBlobStore(dir);
  ({ ports, close: closeIndex } = openSqliteStorage(join(dir, 'index.db')));
  ({ maintenance } = ports);
  access = new AccessBatcher(ports.access);
  clock = 1_700_000_000_000;
  registry = createLocalRegistry({ ports, access, store, uploads: { expiryMs: HOUR, maxUploads: 1000, maxUploadsPerUser: 100 }, shadowsMirror: async () => false, now: () => clock });
});
afterEach(async () => {
  peekDb?.close();
  peekDb = undefined;
  await registry.uploads.closeAll();
  closeIndex();
  rmSync(dir, { recursive: true, force: true });
});

/** The index file as another process sees it. */
function peek(): Database.Database {
  peekDb ??= new Database(join(dir, 'index.db'), { readonly: true });
  return peekDb;
}
const fileExists = (digest: string) => existsSync(blobPath(dir, parseDigest(digest)));
const blobRows = () => (peek().prepare('SELECT digest FROM blobs ORDER BY digest').pluck().all() as string[]);
const repoBlobRows = (digest: string) => peek().prepare('SELECT repo FROM repo_blobs WHERE digest = ?').pluck().all(digest);
const refRows = (parent: string) => peek().prepare('SELECT child FROM manifest_refs WHERE parent = ?').pluck().all(parent);
async function filesOnDisk(): Promise<string[]> {
  const out: string[] = [];
  for await (const b of store.list()) out.push(b.digest);
  return out.sort();
}

async function pushBlob(repo: string, bytes: Buffer): Promise<string> {
  const { id } = await registry.startUpload(repo);
  const { digest } = await registry.finishUpload(repo, id, parseDigest(sha256(bytes)), Readable.from([bytes]));
  return digest;
}

interface Image { manifest: string; config: string; layers: string[]; bytes: Map<string, Buffer> }

/** Pushes config and layers (given, or fresh random ones), then the manifest under `tag`. */
async function pushImage(repo: string, tag: string, layers: Buffer[] = [randomBytes(1000)]): Promise<Image> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', tag, nonce: randomBytes(8).toString('hex') }));
  const bytes = new Map<string, Buffer>();
  const configDigest = await pushBlob(repo, config);
  bytes.set(configDigest, config);
  const layerDigests: string[] = [];
  for (const layer of layers) {
    const d = await pushBlob(repo, layer);
    bytes.set(d, layer);
    layerDigests.push(d);
  }
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layerDigests.map((d) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d, size: bytes.get(d)!.length })),
  }));
  const { digest } = await registry.putManifest(repo, { kind: 'tag', tag }, manifest, MEDIA_TYPES.ociManifest);
  return { manifest: digest, config: configDigest, layers: layerDigests, bytes };
}

/** Pulls repo:tag as a client would: manifest, then every blob it names, checking bytes. */
async function pull(repo: string, tag: string, image: Image): Promise<void> {
  const m = await registry.getManifest(repo, { kind: 'tag', tag });
  expect(m.digest).toBe(image.manifest);
  for (const digest of [image.config, ...image.layers]) {
    const src = await registry.getBlob(repo, parseDigest(digest));
    expect((await buffer(await src.open())).equals(image.bytes.get(digest)!)).toBe(true);
  }
}

describe('gc', () => {
  it('after a manifest is deleted, removes its own config and layers (files and rows) and keeps a layer another image uses', async () => {
    const shared = randomBytes(2000);
    const a = await pushImage('team/x', 'a', [shared, randomBytes(1500)]);
    const b = await pushImage('team/x', 'b', [shared, randomBytes(1700)]);
    const aOwn = [a.config, a.layers[1]!];
    await registry.deleteManifest('team/x', { kind: 'digest', digest: parseDigest(a.manifest) });

    clock += 1;
    const summary = await collectGarbage(maintenance, store, { graceMs: 0, now: clock });

    expect(summary).toEqual({
      manifests: 1, blobs: 2, bytesFreed: a.bytes.get(a.config)!.length + 1500, dryRun: false,
    });
    for (const digest of aOwn) {
      expect(fileExists(digest)).toBe(false);
      expect(await ports.blobs.getBlob(digest)).toBeUndefined();
      expect(repoBlobRows(digest)).toEqual([]);
    }
    expect(await ports.manifests.getManifest(a.manifest)).toBeUndefined();
    expect(refRows(a.manifest)).toEqual([]);
    expect(fileExists(a.layers[0]!)).toBe(true);
    expect((await ports.blobs.getBlob(a.layers[0]!))?.origin).toBe('push');
    await pull('team/x', 'b', b);
    expect(blobRows()).toEqual(await filesOnDisk());
  });

  it('keeps an unreferenced pushed blob until it is older than the grace period', async () => {
    // An upload whose manifest is not pushed yet looks exactly like garbage.
    const digest = await pushBlob('team/x', randomBytes(100));
    clock += 30 * 60_000;
    expect(await collectGarbage(maintenance, store, { graceMs: HOUR, now: clock })).toMatchObject({ blobs: 0 });
    expect(fileExists(digest)).toBe(true);

    clock += 31 * 60_000;
    expect(await collectGarbage(maintenance, store, { graceMs: HOUR, now: clock })).toMatchObject({ blobs: 1, bytesFreed: 100 });
    expect(fileExists(digest)).toBe(false);
    expect(await ports.blobs.getBlob(digest)).toBeUndefined();
  });

  it('counts a recent access or re-push as use within the grace period', async () => {
    const bytes = randomBytes(100);
    const digest = await pushBlob('team/x', bytes);
    clock += 2 * HOUR;
    await registry.getBlob('team/x', parseDigest(digest)); // e.g. a client's HEAD before it skips the upload
    await access.flush();
    expect(await collectGarbage(maintenance, store, { graceMs: HOUR, now: clock + 1 })).toMatchObject({ blobs: 0 });

    clock += 2 * HOUR;
    await pushBlob('team/y', bytes);
    expect(await collectGarbage(maintenance, store, { graceMs: HOUR, now: clock + 1 })).toMatchObject({ blobs: 0 });
    expect(fileExists(digest)).toBe(true);
  });

  it('never collects mirrored blobs, referenced or not', async () => {
    const bytes = randomBytes(300);
    const w = await store.createWriter();
    await w.write(bytes);
    const info = await w.commit(parseDigest(sha256(bytes)));
    await w.close();
    await ports.repositories.ensureRepository('docker.io/library/alpine', 'mirror', 'docker.io', clock);
    await ports.blobs.putBlob('docker.io/library/alpine', { ...info, origin: 'upstream' }, clock);

    const summary = await collectGarbage(maintenance, store, { graceMs: 0, now: clock + 10 * HOUR });
    expect(summary.blobs).toBe(0);
    expect(fileExists(info.digest)).toBe(true);
    expect((await ports.blobs.getBlob(info.digest))?.origin).toBe('upstream');
  });

  it('keeps a child manifest (and its blobs) while a linked index references it, and removes both once the index goes', async () => {
    const img = await pushImage('team/x', 'img');
    const indexBytes = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: img.manifest, size: (await ports.manifests.getManifest(img.manifest))!.size }],
    }));
    const { digest: list } = await registry.putManifest('team/x', { kind: 'tag', tag: 'multi' }, indexBytes, MEDIA_TYPES.ociIndex);
    await registry.deleteManifest('team/x', { kind: 'digest', digest: parseDigest(img.manifest) });

    clock += 1;
    expect(await collectGarbage(maintenance, store, { graceMs: 0, now: clock })).toMatchObject({ manifests: 0, blobs: 0 });
    expect(await ports.manifests.getManifest(img.manifest)).toBeDefined();
    for (const d of [img.config, ...img.layers]) expect(fileExists(d)).toBe(true);

    await registry.deleteManifest('team/x', { kind: 'digest', digest: parseDigest(list) });
    expect(await collectGarbage(maintenance, store, { graceMs: 0, now: clock })).toMatchObject({ manifests: 2, blobs: 2 });
    expect(await ports.manifests.getManifest(img.manifest)).toBeUndefined();
    expect(await ports.manifests.getManifest(list)).toBeUndefined();
    expect(await filesOnDisk()).toEqual([]);
    expect(blobRows()).toEqual([]);
  });

  it('keeps blobs a manifest in another repository still references', async () => {
    const a = await pushImage('team/x', 'a');
    for (const d of [a.config, ...a.layers]) await registry.mountBlob('team/y', 'team/x', parseDigest(d));
    const manifest = (await ports.manifests.getManifest(a.manifest))!;
    await registry.putManifest('team/y', { kind: 'tag', tag: 'copy' }, manifest.bytes, manifest.mediaType);
    await registry.deleteManifest('team/x', { kind: 'digest', digest: parseDigest(a.manifest) });

    clock += 1;
    expect(await collectGarbage(maintenance, store, { graceMs: 0, now: clock })).toMatchObject({ manifests: 0, blobs: 0 });
    await pull('team/y', 'copy', a);
  });

  it('keeps a blob that a manifest pushed while GC runs references (the index re-checks before deleting)', async () => {
    const a = await pushImage('team/x', 'a');
    await registry.deleteManifest('team/x', { kind: 'digest', digest: parseDigest(a.manifest) });
    const layer = a.layers[0]!;
    // Between GC's listing and its delete, a push names the listed layer again.
    const racing: MaintenanceIndex = {
      ...maintenance,
      async listUnusedPushedBlobs(before) {
        const listed = await maintenance.listUnusedPushedBlobs(before);
        const bytes = Buffer.from(JSON.stringify({ layers: [layer] }));
        await ports.manifests.putManifest('team/x', {
          digest: sha256(bytes), mediaType: MEDIA_TYPES.ociManifest, size: bytes.length, bytes, subject: null, artifactType: null, annotations: null,
        }, [{ child: layer, kind: 'layer' }], clock, { tag: 'again', requireRefs: true });
        return listed;
      },
    };

    clock += 1;
    expect(await collectGarbage(racing, store, { graceMs: 0, now: clock })).toMatchObject({ manifests: 1, blobs: 1 });
    expect(fileExists(layer)).toBe(true);
    expect(await ports.blobs.getBlob(layer)).toBeDefined();
    expect(fileExists(a.config)).toBe(false);
  });

  it('in a dry run reports what would go and changes nothing', async () => {
    const a = await pushImage('team/x', 'a');
    await registry.deleteManifest('team/x', { kind: 'digest', digest: parseDigest(a.manifest) });
    const before = { rows: blobRows(), files: await filesOnDisk(), refs: refRows(a.manifest) };

    clock += 1;
    const summary = await collectGarbage(maintenance, store, { graceMs: 0, now: clock, dryRun: true });
    expect(summary).toEqual({ manifests: 1, blobs: 2, bytesFreed: a.bytes.get(a.config)!.length + 1000, dryRun: true });
    expect({ rows: blobRows(), files: await filesOnDisk(), refs: refRows(a.manifest) }).toEqual(before);
    expect(await ports.manifests.getManifest(a.manifest)).toBeDefined();

    expect(await collectGarbage(maintenance, store, { graceMs: 0, now: clock })).toMatchObject({ manifests: 1, blobs: 2 });
    expect(await filesOnDisk()).toEqual([]);
  });

  it('does nothing to a registry where everything is in use', async () => {
    const a = await pushImage('team/x', 'a');
    const files = await filesOnDisk();
    clock += 10 * HOUR;
    expect(await collectGarbage(maintenance, store, { graceMs: 0, now: clock })).toEqual({ manifests: 0, blobs: 0, bytesFreed: 0, dryRun: false });
    expect(await filesOnDisk()).toEqual(files);
    await pull('team/x', 'a', a);
  });
});
