/** The SQLite index through its async ports, looked at as another process sees the file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccessBatcher } from './access-batcher.js';
import type { StoragePorts } from './ports.js';
import type { ManifestRow } from './index-rows.js';
import { openSqliteStorage, type SqliteStorage } from './sqlite-index.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
let dir: string;
let file: string;
let storage: SqliteStorage;
let ports: StoragePorts;
/** Access bookkeeping above the ports, as the core keeps it. */
let access: AccessBatcher;
const openIndex = () => {
  storage = openSqliteStorage(file);
  ports = storage.ports;
  access = new AccessBatcher(ports.access);
};
/** Second connections opened by a test, to look at the file as another process would. */
const others: Database.Database[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mirror-index-'));
  file = join(dir, 'index.db');
  openIndex();
});
afterEach(() => {
  for (const db of others.splice(0)) db.close();
  try {
    storage.close();
  } catch {
    // already closed by the test
  }
  rmSync(dir, { recursive: true, force: true });
});

function peek(): Database.Database {
  const db = new Database(file);
  others.push(db);
  return db;
}
describe('tags', () => {
  const repo = 'docker.io/library/alpine';

  it('put, get, markChecked and delete', async () => {
    expect(await ports.tags.getTag(repo, 'latest')).toBeUndefined();
    await ports.tags.putTag(repo, 'latest', d('a'), 1000);
    expect(await ports.tags.getTag(repo, 'latest')).toEqual({ digest: d('a'), fetchedAt: 1000, checkedAt: 1000 });

    await ports.tags.markTagChecked(repo, 'latest', 2000);
    expect(await ports.tags.getTag(repo, 'latest')).toEqual({ digest: d('a'), fetchedAt: 1000, checkedAt: 2000 });

    await ports.tags.putTag(repo, 'latest', d('b'), 3000);
    expect(await ports.tags.getTag(repo, 'latest')).toEqual({ digest: d('b'), fetchedAt: 3000, checkedAt: 3000 });

    await ports.tags.deleteTag(repo, 'latest');
    expect(await ports.tags.getTag(repo, 'latest')).toBeUndefined();
  });

  it('keeps tags of different repositories apart', async () => {
    await ports.tags.putTag(repo, 'latest', d('a'), 1);
    await ports.tags.putTag('docker.io/library/busybox', 'latest', d('b'), 1);
    expect((await ports.tags.getTag(repo, 'latest'))?.digest).toBe(d('a'));
    await ports.tags.deleteTag('docker.io/library/busybox', 'latest');
    expect((await ports.tags.getTag(repo, 'latest'))?.digest).toBe(d('a'));
  });

  it('markTagChecked of an unknown tag creates nothing', async () => {
    await ports.tags.markTagChecked(repo, 'ghost', 5);
    expect(await ports.tags.getTag(repo, 'ghost')).toBeUndefined();
  });

  it('lists tags in lexical order with n/last pagination', async () => {
    for (const tag of ['b', 'a', 'c', '10', '2', 'B']) await ports.tags.putTag(repo, tag, d('a'), 1);
    await ports.tags.putTag('docker.io/library/other', 'aa', d('a'), 1);

    expect(await ports.tags.listTags(repo, 100)).toEqual(['10', '2', 'B', 'a', 'b', 'c']);
    expect(await ports.tags.listTags(repo, 2)).toEqual(['10', '2']);
    expect(await ports.tags.listTags(repo, 2, '2')).toEqual(['B', 'a']);
    expect(await ports.tags.listTags(repo, 2, 'a')).toEqual(['b', 'c']);
    expect(await ports.tags.listTags(repo, 2, 'c')).toEqual([]);
    expect(await ports.tags.listTags(repo, 100, 'aa')).toEqual(['b', 'c']);
    expect(await ports.tags.listTags('docker.io/library/none', 10)).toEqual([]);
  });
});

describe('manifests', () => {
  const manifest: ManifestRow = {
    digest: d('m'),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 17,
    bytes: Buffer.from('{"schemaVersion":2}'),
    subject: d('s'),
    artifactType: 'application/spdx+json',
    annotations: '{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}',
  };

  it('with requireRefs, a blob missing from the repository refuses the whole put (no row, no tag)', async () => {
    await ports.blobs.putBlob('team/app', { digest: d('c'), size: 2, origin: 'push' }, 1000);
    const refs = [{ child: d('c'), kind: 'config' as const }, { child: d('l'), kind: 'layer' as const }];
    await expect(ports.manifests.putManifest('team/app', manifest, refs, 1000, { requireRefs: true, tag: 'v1' }))
      .rejects.toThrow(expect.objectContaining({ code: 'MANIFEST_BLOB_UNKNOWN' }));
    expect(await ports.manifests.getManifest(manifest.digest)).toBeUndefined();
    expect(await ports.tags.getTag('team/app', 'v1')).toBeUndefined();
    await ports.blobs.putBlob('team/app', { digest: d('l'), size: 2, origin: 'push' }, 1000);
    await ports.manifests.putManifest('team/app', manifest, refs, 1000, { requireRefs: true, tag: 'v1' });
    expect((await ports.tags.getTag('team/app', 'v1'))?.digest).toBe(manifest.digest);
    expect(await ports.manifests.hasRepoManifest('team/app', manifest.digest)).toBe(true);
  });

  it('put then get returns the same row and bytes', async () => {
    expect(await ports.manifests.getManifest(manifest.digest)).toBeUndefined();
    await ports.manifests.putManifest('team/app', manifest, [], 1000);
    const row = await ports.manifests.getManifest(manifest.digest);
    expect(row).toEqual(manifest);
    expect(Buffer.isBuffer(row?.bytes)).toBe(true);
  });

  it('links the manifest to each repository it is put in, stored once', async () => {
    await ports.manifests.putManifest('team/app', manifest, [], 1);
    expect(await ports.manifests.hasRepoManifest('team/app', manifest.digest)).toBe(true);
    expect(await ports.manifests.hasRepoManifest('team/other', manifest.digest)).toBe(false);

    await ports.manifests.putManifest('team/other', manifest, [], 2);
    expect(await ports.manifests.hasRepoManifest('team/other', manifest.digest)).toBe(true);
    expect((await ports.maintenance.stats()).manifests).toBe(1);
  });

  it('keeps the media type per repository link: a second writer does not change the first one\'s', async () => {
    const docker = 'application/vnd.docker.distribution.manifest.v2+json';
    await ports.repositories.ensureRepository('docker.io/library/alpine', 'mirror', 'docker.io', 1);
    await ports.manifests.putManifest('docker.io/library/alpine', { ...manifest, mediaType: docker }, [], 1);
    await ports.manifests.putManifest('team/app', manifest, [], 2);
    expect(await ports.manifests.repoManifestType('docker.io/library/alpine', manifest.digest)).toBe(docker);
    expect(await ports.manifests.repoManifestType('team/app', manifest.digest)).toBe(manifest.mediaType);
    expect(await ports.manifests.repoManifestType('team/other', manifest.digest)).toBeUndefined();
    // The owner of a link may change its own type (a re-push).
    await ports.manifests.putManifest('team/app', { ...manifest, mediaType: 'application/vnd.example+json' }, [], 3);
    expect(await ports.manifests.repoManifestType('team/app', manifest.digest)).toBe('application/vnd.example+json');
    expect(await ports.manifests.repoManifestType('docker.io/library/alpine', manifest.digest)).toBe(docker);
  });

  it('referrers report the media type of the link in the repository asked about', async () => {
    const referrer = { ...manifest, digest: d('r'), subject: d('s') };
    await ports.manifests.putManifest('team/app', referrer, [], 1);
    await ports.manifests.putManifest('team/other', { ...referrer, mediaType: 'application/vnd.example+json' }, [], 2);
    expect((await ports.manifests.referrers('team/app', d('s'))).map((r) => r.mediaType)).toEqual([manifest.mediaType]);
    expect((await ports.manifests.referrers('team/other', d('s'))).map((r) => r.mediaType)).toEqual(['application/vnd.example+json']);
  });

  it('mirroredManifestType: only links in mirrored repositories of that upstream count', async () => {
    await ports.repositories.ensureRepository('team/app', 'local', null, 1);
    await ports.manifests.putManifest('team/app', manifest, [], 1);
    expect(await ports.manifests.mirroredManifestType('docker.io', manifest.digest)).toBeUndefined();
    await ports.repositories.ensureRepository('ghcr.io/o/app', 'mirror', 'ghcr.io', 1);
    await ports.manifests.putManifest('ghcr.io/o/app', manifest, [], 2);
    expect(await ports.manifests.mirroredManifestType('docker.io', manifest.digest)).toBeUndefined();
    await ports.repositories.ensureRepository('docker.io/library/alpine', 'mirror', 'docker.io', 1);
    await ports.manifests.putManifest('docker.io/library/alpine', manifest, [], 3);
    expect(await ports.manifests.mirroredManifestType('docker.io', manifest.digest)).toBe(manifest.mediaType);
  });

  it('records its references', async () => {
    await ports.manifests.putManifest('team/app', manifest, [
      { child: d('c'), kind: 'config' },
      { child: d('1'), kind: 'layer' },
      { child: d('s'), kind: 'subject' },
    ], 1);
    const refs = peek().prepare('SELECT child, kind FROM manifest_refs WHERE parent = ? ORDER BY child').all(manifest.digest);
    expect(refs).toEqual([
      { child: d('1'), kind: 'layer' },
      { child: d('c'), kind: 'config' },
      { child: d('s'), kind: 'subject' },
    ]);
  });

  it('stores the same manifest and references twice without error', async () => {
    const refs = [{ child: d('1'), kind: 'layer' as const }];
    await ports.manifests.putManifest('team/app', manifest, refs, 1);
    await expect(ports.manifests.putManifest('team/app', manifest, refs, 2)).resolves.toBeUndefined();
    expect(peek().prepare('SELECT COUNT(*) FROM manifest_refs').pluck().get()).toBe(1);
  });

  it('writes nothing when storing a reference fails (one transaction)', async () => {
    // A value SQLite cannot bind makes the last insert throw after the manifest row was written.
    await expect(ports.manifests.putManifest('team/app', manifest, [
      { child: d('c'), kind: 'config' },
      { child: {} as unknown as string, kind: 'layer' },
    ], 1)).rejects.toThrow();
    expect(await ports.manifests.getManifest(manifest.digest)).toBeUndefined();
    expect(await ports.manifests.hasRepoManifest('team/app', manifest.digest)).toBe(false);
  });
});

describe('blobs', () => {
  it('put, get, link, hasRepoBlob and delete', async () => {
    expect(await ports.blobs.getBlob(d('1'))).toBeUndefined();
    await ports.blobs.putBlob('docker.io/library/alpine', { digest: d('1'), size: 42, origin: 'upstream' }, 1000);
    expect(await ports.blobs.getBlob(d('1'))).toEqual({ digest: d('1'), size: 42, origin: 'upstream' });
    expect(await ports.blobs.hasRepoBlob('docker.io/library/alpine', d('1'))).toBe(true);
    expect(await ports.blobs.hasRepoBlob('team/app', d('1'))).toBe(false);

    await ports.blobs.linkBlob('team/app', d('1'));
    expect(await ports.blobs.hasRepoBlob('team/app', d('1'))).toBe(true);

    await ports.blobs.deleteBlob(d('1'));
    expect(await ports.blobs.getBlob(d('1'))).toBeUndefined();
    expect(await ports.blobs.hasRepoBlob('docker.io/library/alpine', d('1'))).toBe(false);
    expect(await ports.blobs.hasRepoBlob('team/app', d('1'))).toBe(false);
  });

  it('hasMirroredBlob: only links in mirrored repositories of that upstream count', async () => {
    await ports.repositories.ensureRepository('team/app', 'local', null, 1);
    await ports.blobs.putBlob('team/app', { digest: d('1'), size: 42, origin: 'push' }, 1);
    expect(await ports.blobs.hasMirroredBlob('docker.io', d('1'))).toBe(false);
    await ports.repositories.ensureRepository('ghcr.io/o/app', 'mirror', 'ghcr.io', 1);
    await ports.blobs.linkBlob('ghcr.io/o/app', d('1'));
    expect(await ports.blobs.hasMirroredBlob('docker.io', d('1'))).toBe(false);
    await ports.repositories.ensureRepository('docker.io/library/alpine', 'mirror', 'docker.io', 1);
    await ports.blobs.linkBlob('docker.io/library/alpine', d('1'));
    expect(await ports.blobs.hasMirroredBlob('docker.io', d('1'))).toBe(true);
  });

  it('a push marks a blob as pushed for good; a later upstream fill does not undo it', async () => {
    await ports.blobs.putBlob('docker.io/library/alpine', { digest: d('1'), size: 42, origin: 'upstream' }, 1);
    await ports.blobs.putBlob('team/app', { digest: d('1'), size: 42, origin: 'push' }, 2);
    expect((await ports.blobs.getBlob(d('1')))?.origin).toBe('push');
    await ports.blobs.putBlob('docker.io/library/busybox', { digest: d('1'), size: 42, origin: 'upstream' }, 3);
    expect((await ports.blobs.getBlob(d('1')))?.origin).toBe('push');
    expect(await ports.blobs.hasRepoBlob('docker.io/library/busybox', d('1'))).toBe(true);
    expect((await ports.maintenance.stats()).blobs).toBe(1);
  });
});

describe('access bookkeeping', () => {
  const blobRow = (db: Database.Database, digest: string) =>
    db.prepare('SELECT hits, last_access FROM blobs WHERE digest = ?').get(digest) as { hits: number; last_access: number };
  const manifestAccess = (db: Database.Database, digest: string) =>
    db.prepare('SELECT last_access FROM manifests WHERE digest = ?').pluck().get(digest) as number;

  it('touchBlob writes nothing until flush(), which writes hits and the latest access', async () => {
    await ports.blobs.putBlob('r', { digest: d('1'), size: 1, origin: 'upstream' }, 1000);
    const db = peek();
    expect(blobRow(db, d('1'))).toEqual({ hits: 0, last_access: 1000 });

    access.touchBlob(d('1'), 5000);
    access.touchBlob(d('1'), 6000);
    expect(blobRow(db, d('1'))).toEqual({ hits: 0, last_access: 1000 });

    await access.flush();
    expect(blobRow(db, d('1'))).toEqual({ hits: 2, last_access: 6000 });

    await access.flush();
    expect(blobRow(db, d('1'))).toEqual({ hits: 2, last_access: 6000 });
  });

  it('never moves last_access backwards', async () => {
    await ports.blobs.putBlob('r', { digest: d('1'), size: 1, origin: 'upstream' }, 9000);
    access.touchBlob(d('1'), 500);
    await access.flush();
    expect(blobRow(peek(), d('1'))).toEqual({ hits: 1, last_access: 9000 });
  });

  it('touchManifest writes last_access only on flush()', async () => {
    await ports.manifests.putManifest('r', {
      digest: d('m'), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 2, bytes: Buffer.from('{}'),
      subject: null, artifactType: null, annotations: null,
    }, [], 1000);
    const db = peek();
    access.touchManifest(d('m'), 7000);
    expect(manifestAccess(db, d('m'))).toBe(1000);
    await access.flush();
    expect(manifestAccess(db, d('m'))).toBe(7000);
  });

  it('touching an unknown blob is harmless', async () => {
    access.touchBlob(d('9'), 1);
    await expect(access.flush()).resolves.toBeUndefined();
    expect(await ports.blobs.getBlob(d('9'))).toBeUndefined();
  });
});

describe('stats', () => {
  it('is all zeros for an empty index', async () => {
    expect(await ports.maintenance.stats()).toEqual({ blobs: 0, blobBytes: 0, manifests: 0, tags: 0, repositories: 0 });
  });

  it('counts blobs, their bytes, manifests, tags and repositories', async () => {
    await ports.repositories.ensureRepository('docker.io/library/alpine', 'mirror', 'docker.io', 1);
    await ports.repositories.ensureRepository('docker.io/library/alpine', 'mirror', 'docker.io', 2);
    await ports.repositories.ensureRepository('team/app', 'local', null, 1);
    await ports.blobs.putBlob('team/app', { digest: d('1'), size: 100, origin: 'push' }, 1);
    await ports.blobs.putBlob('team/app', { digest: d('2'), size: 23, origin: 'push' }, 1);
    await ports.manifests.putManifest('team/app', {
      digest: d('m'), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 2, bytes: Buffer.from('{}'),
      subject: null, artifactType: null, annotations: null,
    }, [], 1);
    await ports.tags.putTag('team/app', 'v1', d('m'), 1);
    await ports.tags.putTag('team/app', 'v2', d('m'), 1);
    await ports.tags.putTag('team/app', 'v1', d('m'), 2);
    expect(await ports.maintenance.stats()).toEqual({ blobs: 2, blobBytes: 123, manifests: 1, tags: 2, repositories: 2 });
  });
});
