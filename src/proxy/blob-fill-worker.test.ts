import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseDigest, type Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import type { BlobStore } from '../storage/blob-store.js';
import { FillWorkerPool } from '../storage/fill-worker-pool.js';
import { blobPath, createFsBlobStore } from '../storage/fs-blob-store.js';
import type { UpstreamResponse } from '../upstream/client.js';
import { BlobFill } from './blob-fill.js';

/**
 * BlobFill with its bytes hashed on a fill worker (storage.fill_workers ≥ 1, the default):
 * followers still stream as bytes arrive, a stalled worker holds back only the commit
 * (the bytes wait in the file, not in memory), and a worker that dies mid-fill fails the fill cleanly — followers broken,
 * nothing committed or recorded, no temp file — while the next fill gets a fresh worker.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
/** blob-fill.ts's bound on bytes received but not yet on disk (MAX_UNFLUSHED). */
const MAX_UNFLUSHED = 2 * MiB;

const digestOf = (b: Uint8Array): Digest => parseDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`);

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function client(stream: Readable) {
  const chunks: Buffer[] = [];
  const result = new Promise<{ bytes: Buffer; error?: Error }>((resolve) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ bytes: Buffer.concat(chunks) }));
    stream.on('error', (error) => resolve({ bytes: Buffer.concat(chunks), error }));
  });
  return { result, got: () => chunks.reduce((n, c) => n + c.length, 0) };
}

async function rejection(promise: Promise<unknown>): Promise<OciError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(OciError);
  return err as OciError;
}

let root: string;
let pool: FillWorkerPool;
let store: BlobStore;
/** Set [0] to 1 to stall the workers (a disk that takes no writes) until set back to 0. */
let hold: Int32Array;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'mirror-fill-worker-'));
  const sab = new SharedArrayBuffer(4);
  hold = new Int32Array(sab);
  pool = new FillWorkerPool({ size: 1, hold: sab });
  store = await createFsBlobStore(root, { fillWorkers: pool });
});
afterEach(async () => {
  Atomics.store(hold, 0, 0);
  await pool.close();
  await rm(root, { recursive: true, force: true });
});

/** A fill of `blob` whose upstream body produces a chunk each time it is read (as undici's does). */
async function begin(blob: Buffer, chunk = 64 * KiB, digest = digestOf(blob)) {
  const source: Buffer[] = [];
  for (let i = 0; i < blob.length; i += chunk) source.push(blob.subarray(i, i + chunk));
  const body = new Readable({ read() { this.push(source.shift() ?? null); } });
  const res: UpstreamResponse = { status: 200, headers: { 'content-length': String(blob.length) }, body };
  const onCommit = vi.fn();
  const fill = new BlobFill(digest, store, async () => res, () => new OciError('BLOB_UNKNOWN'), { onCommit });
  await fill.ready;
  return { fill, onCommit, digest, body, left: () => source.length };
}

async function expectNothingCommitted(digest: Digest, onCommit: ReturnType<typeof vi.fn>) {
  expect(existsSync(blobPath(root, digest))).toBe(false);
  expect(await readdir(join(root, 'tmp'))).toEqual([]);
  expect(onCommit).not.toHaveBeenCalled();
}

describe('BlobFill on a fill worker', () => {
  it('followers from the start and from behind the window (read back from the file) get the blob, committed once', async () => {
    const blob = randomBytes(12 * MiB);
    const { fill, onCommit, digest } = await begin(blob);
    const first = client(fill.follow());
    await until(() => fill.received > 8 * MiB, 'the fill to pass the in-memory window');
    const late = client(fill.follow());
    expect((await fill.done).size).toBe(blob.length);
    expect((await first.result).bytes.equals(blob)).toBe(true);
    expect((await late.result).bytes.equals(blob)).toBe(true);
    expect(onCommit).toHaveBeenCalledOnce();
    expect(existsSync(blobPath(root, digest))).toBe(true);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('a stalled worker holds up neither the transfer nor its followers; only the last byte waits for the digest', async () => {
    const blob = randomBytes(8 * MiB);
    Atomics.store(hold, 0, 1);
    const { fill, onCommit } = await begin(blob, 256 * KiB);
    const c = client(fill.follow());
    await until(() => fill.received === blob.length && c.got() === blob.length - 1, 'every byte but the last');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fill.state).toBe('running');
    expect(onCommit).not.toHaveBeenCalled();
    Atomics.store(hold, 0, 0);
    expect((await fill.done).size).toBe(blob.length);
    expect((await c.result).bytes.equals(blob)).toBe(true);
  });

  it('a digest mismatch cuts every follower before the last byte and commits nothing', async () => {
    const blob = randomBytes(3 * MiB);
    const { fill, onCommit, digest } = await begin(blob, 64 * KiB, digestOf(Buffer.from('another blob')));
    const c = client(fill.follow());
    const err = await rejection(fill.done);
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    expect((err.detail as { reason: string }).reason).toBe('digest mismatch');
    const seen = await c.result;
    expect(seen.error).toBe(err);
    expect(seen.bytes.length).toBeLessThan(blob.length);
    await expectNothingCommitted(digest, onCommit);
    expect(existsSync(blobPath(root, digestOf(blob)))).toBe(false);
  });

  it('a worker that dies mid-fill fails the fill and its followers, caches nothing; the next fill of the blob succeeds', async () => {
    const blob = randomBytes(6 * MiB);
    Atomics.store(hold, 0, 1);
    const { fill, onCommit, digest, body } = await begin(blob);
    const a = client(fill.follow());
    const b = client(fill.follow());
    await until(() => fill.received > MAX_UNFLUSHED, 'bytes to arrive');
    const dying = pool.workers[0]!;
    await dying.terminate();
    const err = await rejection(fill.done);
    expect(err.code).toBe('STORAGE_UNAVAILABLE');
    expect((await a.result).error).toBe(err);
    expect((await b.result).error).toBe(err);
    expect(body.destroyed).toBe(true);
    await until(() => fill.state === 'failed', 'the fill to fail');
    await expectNothingCommitted(digest, onCommit);

    Atomics.store(hold, 0, 0);
    const again = await begin(blob);
    const c = client(again.fill.follow());
    expect((await again.fill.done).size).toBe(blob.length);
    expect((await c.result).bytes.equals(blob)).toBe(true);
    expect(again.onCommit).toHaveBeenCalledOnce();
    expect(pool.workers).toHaveLength(1);
    expect(pool.workers[0]).not.toBe(dying);
  });
});
