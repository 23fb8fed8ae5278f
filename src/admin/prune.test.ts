import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDigest } from '../oci/digest.js';
import type { BlobStore } from '../storage/blob-store.js';
import { blobPath, createFsBlobStore } from '../storage/fs-blob-store.js';
import { AccessBatcher } from '../storage/access-batcher.js';
import type { MaintenanceIndex, StoragePorts } from '../storage/ports.js';
import { openSqliteStorage } from '../storage/sqlite-index.js';
import { prune, type PruneOptions } from './prune.js';

const MIRRORED = 'docker.io/library/alpine';
const LOCAL = 'team/x';
const DAY = 86_400_000;
const T0 = 1_700_000_000_000;
const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

let dir: string;
let store: BlobStore;
let ports: StoragePorts;
let access: AccessBatcher;
let closeIndex: () => void;
/** The port prune uses. */
let maintenance: MaintenanceIndex;
let peekDb: Database.Database | undefined;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mirror-prune-'));
  store = await createFsBlobStore(dir);
  ({ ports, close: closeIndex } = openSqliteStorage(join(dir, 'index.db')));
  ({ maintenance } = ports);
  access = new AccessBatcher(ports.access);
  await ports.repositories.ensureRepository(MIRRORED, 'mirror', 'docker.io', T0);
  await ports.repositories.ensureRepository(LOCAL, 'local', null, T0);
});
afterEach(() => {
  peekDb?.close();
  peekDb = undefined;
  closeIndex();
  rmSync(dir, { recursive: true, force: true });
});

/** A verified blob file and its row, created (and last accessed) at `at`, with `hits`. */
async function addBlob(repo: string, size: number, origin: 'upstream' | 'push', at: number, hits = 0): Promise<string> {
  const bytes = randomBytes(size);
  const w = await store.createWriter();
  await w.write(bytes);
  const { digest } = await w.commit(parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`));
  await w.close();
  await ports.blobs.putBlob(repo, { digest, size, origin }, at);
  for (let i = 0; i < hits; i++) access.touchBlob(digest, at);
  await access.flush();
  return digest;
}

function peek(): Database.Database {
  peekDb ??= new Database(join(dir, 'index.db'), { readonly: true });
  return peekDb;
}
const blobRows = () => peek().prepare('SELECT digest FROM blobs ORDER BY digest').pluck().all() as string[];
const repoBlobRows = () => peek().prepare('SELECT digest FROM repo_blobs ORDER BY digest').pluck().all() as string[];
const fileExists = (digest: string) => existsSync(blobPath(dir, parseDigest(digest)));
async function filesOnDisk(): Promise<string[]> {
  const out: string[] = [];
  for await (const b of store.list()) out.push(b.digest);
  return out.sort();
}
/** Index and disk agree: every row has its file, every file its row, every link its blob. */
async function expectIndexMatchesDisk(): Promise<void> {
  expect(await filesOnDisk()).toEqual(blobRows());
  expect(repoBlobRows().every((d) => blobRows().includes(d))).toBe(true);
}

const run = (options: PruneOptions) => prune(maintenance, store, { now: T0 + 10 * DAY, ...options });

describe('prune', () => {
  let pushed: string;
  /** Mirrored blobs of 100 bytes each, least recently accessed first. */
  let mirrored: string[];
  beforeEach(async () => {
    pushed = await addBlob(LOCAL, 100, 'push', T0); // the oldest of all, and never evictable
    mirrored = [];
    for (let i = 1; i <= 5; i++) mirrored.push(await addBlob(MIRRORED, 100, 'upstream', T0 + i * DAY));
  });

  it('evicts mirrored blobs least recently accessed first until the total fits, rows before files', async () => {
    expect(await run({ maxSize: 350 })).toEqual({ evicted: 3, bytesFreed: 300, remainingBytes: 300, dryRun: false });
    for (const d of mirrored.slice(0, 3)) {
      expect(fileExists(d)).toBe(false);
      expect(await ports.blobs.getBlob(d)).toBeUndefined();
    }
    for (const d of [pushed, ...mirrored.slice(3)]) expect(fileExists(d)).toBe(true);
    expect((await ports.maintenance.stats()).blobBytes).toBe(300);
    expect(repoBlobRows().filter((d) => mirrored.includes(d))).toEqual(mirrored.slice(3).sort());
    await expectIndexMatchesDisk();
  });

  it('does nothing when the total already fits', async () => {
    expect(await run({ maxSize: 600 })).toEqual({ evicted: 0, bytesFreed: 0, remainingBytes: 600, dryRun: false });
    expect(await filesOnDisk()).toHaveLength(6);
  });

  it('breaks ties in last access by evicting the blob with fewer hits first', async () => {
    const popular = await addBlob(MIRRORED, 100, 'upstream', T0, 5);
    const rare = await addBlob(MIRRORED, 100, 'upstream', T0, 1);
    expect(await run({ maxSize: 700 })).toMatchObject({ evicted: 1 });
    expect(fileExists(rare)).toBe(false);
    expect(fileExists(popular)).toBe(true);
  });

  it('never evicts pushed content, even when it alone exceeds the limit', async () => {
    expect(await run({ maxSize: 0 })).toEqual({ evicted: 5, bytesFreed: 500, remainingBytes: 100, dryRun: false });
    expect(await filesOnDisk()).toEqual([pushed]);
    expect((await ports.blobs.getBlob(pushed))?.origin).toBe('push');
    await expectIndexMatchesDisk();
  });

  it('never evicts a mirrored blob that is linked into a local repository', async () => {
    await ports.blobs.linkBlob(LOCAL, mirrored[0]!); // a cross-repository mount
    expect(await run({ maxSize: 0 })).toMatchObject({ evicted: 4, remainingBytes: 200 });
    expect(fileExists(mirrored[0]!)).toBe(true);
    await expectIndexMatchesDisk();
  });

  it('with --older-than evicts every blob idle that long, whatever the size', async () => {
    // now = T0 + 10 days; mirrored[i] was last accessed i+1 days after T0.
    expect(await run({ olderThanMs: 7.5 * DAY })).toEqual({ evicted: 2, bytesFreed: 200, remainingBytes: 400, dryRun: false });
    expect(mirrored.map(fileExists)).toEqual([false, false, true, true, true]);
    expect(await run({ olderThanMs: 7.5 * DAY, maxSize: 250 })).toMatchObject({ evicted: 2, remainingBytes: 200 });
    expect(mirrored.map(fileExists)).toEqual([false, false, false, false, true]);
    await expectIndexMatchesDisk();
  });

  it('in a dry run reports what would go and changes nothing', async () => {
    const before = { rows: blobRows(), links: repoBlobRows(), files: await filesOnDisk() };
    expect(await run({ maxSize: 350, dryRun: true })).toEqual({ evicted: 3, bytesFreed: 300, remainingBytes: 300, dryRun: true });
    expect(await run({ olderThanMs: 7.5 * DAY, dryRun: true })).toMatchObject({ evicted: 2, bytesFreed: 200 });
    expect({ rows: blobRows(), links: repoBlobRows(), files: await filesOnDisk() }).toEqual(before);
  });

  it('gives the same result when candidates come in many small batches', async () => {
    const dry = await run({ maxSize: 150, batchSize: 2, dryRun: true });
    expect(dry).toEqual({ evicted: 5, bytesFreed: 500, remainingBytes: 100, dryRun: true });
    expect(await run({ maxSize: 250, batchSize: 2, concurrency: 1 })).toMatchObject({ evicted: 4, remainingBytes: 200 });
    expect(mirrored.map(fileExists)).toEqual([false, false, false, false, true]);
    await expectIndexMatchesDisk();
  });

  it('keeps a blob accessed after it was listed, and judges the next one against the real total', async () => {
    const page = await ports.maintenance.listEvictableBlobs(10);
    expect(page.map((b) => b.digest)).toEqual(mirrored);
    access.touchBlob(mirrored[0]!, T0 + 11 * DAY); // the server serves it meanwhile
    await access.flush();
    expect(await ports.maintenance.deleteEvictableBlobs(page.slice(0, 2))).toEqual([mirrored[1]]);
    expect(fileExists(mirrored[0]!)).toBe(true);
    expect((await ports.maintenance.listEvictableBlobs(10)).map((b) => b.digest)).toEqual([...mirrored.slice(2), mirrored[0]]);
  });

  it('counts a file that is already gone as evicted and leaves no row behind', async () => {
    await store.delete(mirrored[0]!);
    expect(await run({ maxSize: 500 })).toMatchObject({ evicted: 1, remainingBytes: 500 });
    expect(await ports.blobs.getBlob(mirrored[0]!)).toBeUndefined();
    await expectIndexMatchesDisk();
  });
});

describe('registry-mirror prune (CLI)', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, 'prune', ...args], {
    cwd: dir, // no mirror.config.yaml here: defaults plus the environment
    env: { MIRROR_STORAGE_PATH: dir, MIRROR_LOG_LEVEL: 'warn' },
    encoding: 'utf8',
  });

  it('prints a JSON summary of a dry run and changes nothing', async () => {
    const old = await addBlob(MIRRORED, 1000, 'upstream', T0);
    await addBlob(MIRRORED, 1000, 'upstream', T0 + DAY);
    await addBlob(LOCAL, 1000, 'push', T0 - DAY);
    const files = await filesOnDisk();

    const res = cli('--max-size', '2KiB', '--dry-run', '--json');
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ evicted: 1, bytesFreed: 1000, remainingBytes: 2000, dryRun: true });
    expect(await filesOnDisk()).toEqual(files);

    const real = cli('--max-size=2KiB');
    expect(real.status).toBe(0);
    expect(JSON.parse(real.stdout)).toEqual({ evicted: 1, bytesFreed: 1000, remainingBytes: 2000, dryRun: false });
    expect(fileExists(old)).toBe(false);
    await expectIndexMatchesDisk();
  });

  it('a dry run lists what would go (repository, digest, size, last pull), LRU first, then the JSON summary line', async () => {
    const oldest = await addBlob(MIRRORED, 1000, 'upstream', T0);
    const next = await addBlob('docker.io/library/busybox', 1500, 'upstream', T0 + DAY);
    await ports.blobs.linkBlob(MIRRORED, next);
    await addBlob(MIRRORED, 1000, 'upstream', T0 + 2 * DAY);
    await addBlob(LOCAL, 1000, 'push', T0 - DAY);
    const files = await filesOnDisk();

    const res = cli('--max-size', '2KiB', '--dry-run');
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines).toEqual([
      `${MIRRORED}\t${oldest}\t1000\t${new Date(T0).toISOString()}`,
      `${MIRRORED},docker.io/library/busybox\t${next}\t1500\t${new Date(T0 + DAY).toISOString()}`,
      JSON.stringify({ evicted: 2, bytesFreed: 2500, remainingBytes: 2000, dryRun: true }),
    ]);
    expect(await filesOnDisk()).toEqual(files);
  });

  it('exits 2 with one line on stderr for a size it cannot read', () => {
    const res = cli('--max-size', 'nonsense');
    expect(res.status).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe('registry-mirror: --max-size: "nonsense" is not a size such as "4MiB" or "200GiB"\n');
  });
});
