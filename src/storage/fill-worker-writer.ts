import type { FileHandle } from 'node:fs/promises';
import { OciError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { BlobInfo, BlobWriter } from './blob-store.js';
import type { FillLease, FillReply, FillWorkerPool } from './fill-worker-pool.js';
import { publishBlobFile, type FsOps } from './fs-ops.js';
import { onStorage, storageError } from './storage-errors.js';

/** Up to `n` bytes of `handle` from `position` (fewer only at end of file). */
export async function readWritten(handle: FileHandle, position: number, n: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(n);
  let done = 0;
  while (done < n) {
    const { bytesRead } = await handle.read(buf, done, n - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === n ? buf : buf.subarray(0, done);
}

/** Writes all of `chunks` at `position` (one writev, then any short-write rest); returns the bytes written. */
export async function writeChunks(handle: FileHandle, chunks: Uint8Array[], position: number): Promise<number> {
  let total = 0;
  for (const chunk of chunks) total += chunk.length;
  let { bytesWritten } = await handle.writev(chunks, position);
  let done = bytesWritten;
  // A short write (rare on regular files): finish what is left chunk by chunk.
  let skip = bytesWritten;
  for (const chunk of bytesWritten < total ? chunks : []) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    for (let offset = skip; offset < chunk.length; offset += bytesWritten) {
      ({ bytesWritten } = await handle.write(chunk, offset, chunk.length - offset, position + done));
      done += bytesWritten;
    }
    skip = 0;
  }
  return done;
}

/**
 * A BlobWriter whose hashing and fsyncs run on a fill worker (fill-worker-pool.ts).
 *
 * writev() writes the chunks to the temp file as FsBlobWriter does (one writev, on the
 * libuv pool: no copy on the main thread) and then tells the worker how far the file is
 * written; the worker reads those bytes back from the page cache and hashes them, so the
 * digest is over what is really in the file. A worker that lags holds no memory: the
 * bytes wait in the file. bytesWritten counts bytes in the file, so read() never asks for
 * a byte not on disk. commit() verifies size, asks the worker to hash the rest, fsync and
 * hand over the digest, verifies it and only then renames into blobs/: verified before
 * visible, as FsBlobWriter. The main thread opens and closes the file; the worker only
 * uses its fd in between.
 */
export class FillWorkerWriter implements BlobWriter {
  bytesWritten = 0;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private failure: Error | undefined;
  private finishing: { resolve: (hex: string) => void; reject: (err: Error) => void } | undefined;
  /** Resolves once the worker no longer uses the fd (dropped, finished or dead). */
  private readonly detached: Promise<void>;
  private markDetached!: () => void;
  /** A drop was sent, or none is needed (the worker finished the fill or died). */
  private dropSent = false;
  /** Serializes writev calls: each writes at the end of the previous one. */
  private writes: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly lease: FillLease;

  constructor(
    pool: FillWorkerPool,
    private readonly tmpPath: string,
    private readonly finalPath: (digest: Digest) => string,
    private readonly handle: FileHandle,
    private readonly fs: FsOps,
  ) {
    this.detached = new Promise((resolve) => { this.markDetached = resolve; });
    this.lease = pool.open(handle.fd, { onMessage: (m) => this.onMessage(m), onExit: (err) => this.onExit(err) });
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.writev([chunk]);
  }

  writev(chunks: Uint8Array[]): Promise<void> {
    const run = this.writes.then(() => onStorage('write blob', () => this.writeAll(chunks)));
    this.writes = run.catch(() => {});
    return run;
  }

  private async writeAll(chunks: Uint8Array[]): Promise<void> {
    this.check();
    this.bytesWritten += await writeChunks(this.handle, chunks, this.bytesWritten);
    this.check();
    this.lease.post({ t: 'hash', end: this.bytesWritten });
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.state !== 'open') throw new Error('blob writer is not open');
  }

  private onMessage(msg: FillReply): void {
    if (msg.t === 'finished') {
      this.detach();
      this.finishing?.resolve(msg.hex);
    } else if (msg.t === 'dropped') {
      this.detach();
    } else {
      const err = Object.assign(new Error(msg.error.message), msg.error);
      this.fail(storageError(err, 'write blob') ?? err);
    }
  }

  private onExit(cause: Error): void {
    this.detach();
    // A dead worker is the store failing, not the upstream: the client may retry.
    this.fail(new OciError('STORAGE_UNAVAILABLE', { detail: { reason: 'fill worker stopped', operation: 'write blob' }, cause }));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.finishing?.reject(this.failure);
    this.finishing = undefined;
  }

  private detach(): void {
    this.dropSent = true;
    this.lease.release();
    this.markDetached();
  }

  read(position: number, length: number): Promise<Buffer> {
    return readWritten(this.handle, position, Math.max(0, Math.min(length, this.bytesWritten - position)));
  }

  async commit(expected: Digest, expectedSize?: number): Promise<BlobInfo> {
    this.check();
    await this.writes;
    this.check();
    if (expectedSize !== undefined && expectedSize !== this.bytesWritten) {
      await this.abort();
      throw new OciError('SIZE_INVALID', { detail: { expected: expectedSize, received: this.bytesWritten } });
    }
    if (expected.algorithm !== 'sha256') {
      // Only sha256 is hashed while writing; sha512 content is rare and refused.
      await this.abort();
      throw new OciError('UNSUPPORTED', { message: `digest algorithm ${expected.algorithm} is not supported` });
    }
    let hex: string;
    try {
      // The worker hashes what it has not yet, fsyncs (mostly done by its background
      // fdatasyncs), then answers the digest.
      hex = await new Promise<string>((resolve, reject) => {
        this.finishing = { resolve, reject };
        this.lease.post({ t: 'finish', end: this.bytesWritten });
      });
    } catch (err) {
      await this.abort();
      throw err;
    }
    this.finishing = undefined;
    const actual = `sha256:${hex}`;
    if (actual !== expected.value) {
      await this.abort();
      throw new OciError('DIGEST_INVALID', { detail: { expected: expected.value, actual } });
    }
    const finalPath = this.finalPath(expected);
    await onStorage('commit blob', async () => {
      await publishBlobFile(this.fs, this.tmpPath, finalPath);
    });
    this.state = 'committed';
    return { digest: expected.value, size: this.bytesWritten };
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.fail(new Error('blob writer is not open'));
    this.release();
    await this.fs.rm(this.tmpPath, { force: true });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.state === 'open') await this.abort();
    this.release();
    // The fd may be closed (and its number reused) only once the worker is done with it.
    await this.detached;
    await this.handle.close();
  }

  /** Tells the worker to forget the fill, unless it already did (finished) or died. */
  private release(): void {
    if (this.dropSent) return;
    this.dropSent = true;
    this.lease.post({ t: 'drop' });
  }
}
