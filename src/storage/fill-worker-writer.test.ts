import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readdir, readFile, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDigest, type Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import type { BlobStore, BlobWriter } from './blob-store.js';
import { FillWorkerPool, type FillWorkerPoolOptions } from './fill-worker-pool.js';
import { blobPath, createFsBlobStore, type FsBlobStoreOptions } from './fs-blob-store.js';

/**
 * The fill writer that hashes and fsyncs on a worker thread (FillWorkerWriter), through the
 * file store as fills use it: bytes and digest as given whatever the chunking, a stalled
 * worker holding no bytes in memory but holding back the commit, mismatches, errors raised
 * in the worker and worker deaths leaving nothing behind.
 */

const KiB = 1024;
const digestOf = (b: Uint8Array): Digest => parseDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`);
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

async function rejection(promise: Promise<unknown>): Promise<OciError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(OciError);
  return err as OciError;
}

let root: string;
let pool: FillWorkerPool;
let store: BlobStore;
const writers: BlobWriter[] = [];
/** Set to 1 to stall every worker (nothing written) until set back to 0. */
let hold: Int32Array;

async function useStore(poolOptions: Partial<FillWorkerPoolOptions> = {}, storeOptions: FsBlobStoreOptions = {}) {
  await pool?.close();
  const sab = new SharedArrayBuffer(4);
  hold = new Int32Array(sab);
  pool = new FillWorkerPool({ size: 1, hold: sab, ...poolOptions });
  store = await createFsBlobStore(root, { ...storeOptions, fillWorkers: pool });
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'mirror-fillworker-'));
  await useStore();
});
afterEach(async () => {
  Atomics.store(hold, 0, 0);
  await Promise.all(writers.splice(0).map((w) => w.close().catch(() => {})));
  await pool.close();
  await rm(root, { recursive: true, force: true });
});

async function newWriter(): Promise<BlobWriter> {
  const w = await store.createWriter();
  writers.push(w);
  return w;
}

const tmpEntries = () => readdir(join(root, 'tmp'));

describe('FillWorkerWriter handoff', () => {
  it('keeps the order of any mix of small and large chunks: file bytes, digest and size equal the input', async () => {
    await useStore({ syncEvery: 100 * KiB });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 200 * KiB })), { minLength: 1, maxLength: 25 }),
        fc.integer({ min: 1, max: 4 }),
        async (sizes, perCall) => {
          const chunks = sizes.map((n) => randomBytes(n));
          const all = Buffer.concat(chunks);
          const w = await newWriter();
          for (let i = 0; i < chunks.length; i += perCall) {
            await w.writev(chunks.slice(i, i + perCall));
            // Only bytes really in the file are counted, and they read back as written.
            expect(w.bytesWritten).toBe(chunks.slice(0, i + perCall).reduce((n, c) => n + c.length, 0));
          }
          const mid = Math.floor(all.length / 2);
          expect(Buffer.compare(await w.read(mid, 100), all.subarray(mid, mid + 100))).toBe(0);
          const digest = digestOf(all);
          expect(await w.commit(digest, all.length)).toEqual({ digest: digest.value, size: all.length });
          await w.close();
          expect(Buffer.compare(await readFile(blobPath(root, digest)), all)).toBe(0);
        },
      ),
      { numRuns: 30 },
    );
    expect(await tmpEntries()).toEqual([]);
  });

  it('a stalled worker holds no bytes in memory: writes go on into the file, the commit waits for the digest', async () => {
    const w = await newWriter();
    Atomics.store(hold, 0, 1);
    const bytes = randomBytes(3 * 1024 * KiB);
    for (let off = 0; off < bytes.length; off += 256 * KiB) await w.write(bytes.subarray(off, off + 256 * KiB));
    expect(w.bytesWritten).toBe(bytes.length);
    expect((await w.read(bytes.length - 10, 10)).equals(bytes.subarray(-10))).toBe(true);
    let committed = false;
    const commit = w.commit(digestOf(bytes), bytes.length).then((info) => { committed = true; return info; });
    for (let i = 0; i < 20; i++) await tick();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(committed).toBe(false);
    expect(existsSync(blobPath(root, digestOf(bytes)))).toBe(false);
    Atomics.store(hold, 0, 0);
    expect((await commit).size).toBe(bytes.length);
    expect(existsSync(blobPath(root, digestOf(bytes)))).toBe(true);
  });

  it('close() waits until the worker has let go of the file (its fd number is never reused under it)', async () => {
    const w = await newWriter();
    Atomics.store(hold, 0, 1);
    await w.write(randomBytes(100 * KiB));
    let closed = false;
    const closing = w.close().then(() => { closed = true; });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(false);
    Atomics.store(hold, 0, 0);
    await closing;
    expect(await tmpEntries()).toEqual([]);
  });

  it('several fills on one worker keep their own bytes and digests', async () => {
    const blobs = [randomBytes(300 * KiB), randomBytes(5 * 1024 * KiB), randomBytes(1)];
    const ws = await Promise.all(blobs.map(() => newWriter()));
    await Promise.all(blobs.map(async (b, i) => {
      for (let off = 0; off < b.length; off += 64 * KiB) await ws[i]!.write(b.subarray(off, off + 64 * KiB));
      await ws[i]!.commit(digestOf(b), b.length);
    }));
    for (const b of blobs) expect(Buffer.compare(await readFile(blobPath(root, digestOf(b))), b)).toBe(0);
    expect(pool.workers).toHaveLength(1);
  });
});

describe('FillWorkerWriter verification', () => {
  it('a digest mismatch rejects with DIGEST_INVALID: nothing in blobs/, the temp file gone', async () => {
    const w = await newWriter();
    const bytes = randomBytes(100 * KiB);
    await w.write(bytes);
    const wrong = digestOf(Buffer.from('other'));
    const err = await rejection(w.commit(wrong, bytes.length));
    expect(err.code).toBe('DIGEST_INVALID');
    expect(existsSync(blobPath(root, wrong))).toBe(false);
    expect(existsSync(blobPath(root, digestOf(bytes)))).toBe(false);
    expect(await tmpEntries()).toEqual([]);
  });

  it('a size mismatch rejects with SIZE_INVALID: nothing in blobs/, the temp file gone', async () => {
    const w = await newWriter();
    const bytes = randomBytes(10 * KiB);
    await w.write(bytes);
    const err = await rejection(w.commit(digestOf(bytes), bytes.length + 1));
    expect(err.code).toBe('SIZE_INVALID');
    expect(existsSync(blobPath(root, digestOf(bytes)))).toBe(false);
    expect(await tmpEntries()).toEqual([]);
  });

  it('abort mid-transfer removes the temp file and commits nothing', async () => {
    const w = await newWriter();
    await w.write(randomBytes(10 * KiB));
    await w.abort();
    expect(await tmpEntries()).toEqual([]);
    await expect(w.write(randomBytes(1))).rejects.toThrow();
  });
});

describe('FillWorkerWriter failures', () => {
  it('a write error (ENOSPC from /dev/full) is STORAGE_FULL, with its cause', async () => {
    await useStore({}, {
      fs: { open: ((path: string, flags?: string, mode?: number) => (path.includes('/tmp/') ? open('/dev/full', 'r+') : open(path, flags, mode))) as typeof open },
    });
    const w = await newWriter();
    const err = await rejection(w.write(randomBytes(100)));
    expect(err.code).toBe('STORAGE_FULL');
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(w.bytesWritten).toBe(0);
  });

  it('an error raised in the worker (the file cut short behind it: EIO) is STORAGE_UNAVAILABLE on the main side, with its code', async () => {
    const w = await newWriter();
    Atomics.store(hold, 0, 1);
    await w.write(randomBytes(100 * KiB));
    const [name] = await tmpEntries();
    await truncate(join(root, 'tmp', name!), 10);
    Atomics.store(hold, 0, 0);
    const err = await rejection(w.commit(digestOf(Buffer.alloc(0)), 100 * KiB));
    expect(err.code).toBe('STORAGE_UNAVAILABLE');
    expect((err.cause as NodeJS.ErrnoException).code).toBe('EIO');
    expect(JSON.stringify(err.detail)).not.toContain(root);
    expect(await tmpEntries()).toEqual([]);
  });

  it('a worker that dies mid-write fails the writer with STORAGE_UNAVAILABLE; the next writer gets a fresh worker', async () => {
    const w = await newWriter();
    Atomics.store(hold, 0, 1);
    await w.write(randomBytes(10 * KiB));
    await until(() => pool.workers.length === 1, 'a worker');
    const first = pool.workers[0]!;
    await first.terminate();
    const err = await rejection(w.write(randomBytes(10 * KiB)));
    expect(err.code).toBe('STORAGE_UNAVAILABLE');
    expect(err.status).toBe(503);
    expect((await rejection(w.commit(digestOf(Buffer.alloc(0))))).code).toBe('STORAGE_UNAVAILABLE');
    await w.close();
    expect(await tmpEntries()).toEqual([]);

    Atomics.store(hold, 0, 0);
    const bytes = randomBytes(50 * KiB);
    const next = await newWriter();
    await next.write(bytes);
    await next.commit(digestOf(bytes), bytes.length);
    expect(pool.workers).toHaveLength(1);
    expect(pool.workers[0]).not.toBe(first);
    expect(Buffer.compare(await readFile(blobPath(root, digestOf(bytes))), bytes)).toBe(0);
  });

  it('a closed pool refuses new writers with STORAGE_UNAVAILABLE and leaves no temp file', async () => {
    await pool.close();
    expect((await rejection(store.createWriter())).code).toBe('STORAGE_UNAVAILABLE');
    expect(await tmpEntries()).toEqual([]);
  });
});
