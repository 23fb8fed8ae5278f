import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { OciError } from '../oci/errors.js';
import { tryParseDigest, type Digest } from '../oci/digest.js';
import type { BlobInfo, BlobStore, BlobWriter, ByteRange } from './blob-store.js';
import type { FillWorkerPool } from './fill-worker-pool.js';
import { FillWorkerWriter, readWritten, writeChunks } from './fill-worker-writer.js';
import { FsBlobUpload } from './fs-blob-upload.js';
import { DIR_MODE, FILE_MODE, NODE_FS, publishBlobFile, type FsOps } from './fs-ops.js';
import { onStorage, storageError } from './storage-errors.js';
import { verifyBlob } from './verify-blob.js';

/**
 * Blobs as content-addressed files:
 *
 *   <root>/
 *   ├── blobs/
 *   │   └── sha256/
 *   │       └── ab/                       first two hex digits
 *   │           └── ab12…(64 hex)         complete, verified bytes; never partial
 *   └── tmp/
 *       └── <uuid>                        a fill or upload in progress; removed at startup
 *
 * A file reaches blobs/ only by rename(2) after fsync and digest verification, so a
 * file at its final path is always complete. Files are 0600 and dirs 0700 (blobs may
 * be private images). A failing disk (ENOSPC, EACCES, EIO...) surfaces as STORAGE_FULL /
 * STORAGE_UNAVAILABLE (storage-errors.ts), never as an upstream or unknown error.
 */
const READ_HIGH_WATER_MARK = 1024 * 1024;

export function blobPath(root: string, digest: Digest): string {
  return join(root, 'blobs', digest.algorithm, digest.hex.slice(0, 2), digest.hex);
}

export interface FsBlobStoreOptions {
  /** File system calls, replaceable to inject faults in tests. */
  fs?: Partial<FsOps>;
  /**
   * Worker threads that hash (reading back from the file) and fsync what createWriter()
   * writes (cache fills), off the event loop. Without it the writer hashes on the calling
   * thread. Uploads (pushes) always do: they arrive in request-sized chunks and are not a
   * cold pull's path.
   */
  fillWorkers?: FillWorkerPool;
}

export async function createFsBlobStore(root: string, options: FsBlobStoreOptions = {}): Promise<BlobStore> {
  const fs: FsOps = { ...NODE_FS, ...options.fs };
  const tmpDir = join(root, 'tmp');
  await onStorage('create data dirs', async () => {
    await fs.mkdir(tmpDir, { recursive: true, mode: DIR_MODE });
    await fs.mkdir(join(root, 'blobs'), { recursive: true, mode: DIR_MODE });
  });

  const pathOf = (digest: string): string | undefined => {
    const d = tryParseDigest(digest);
    return d && blobPath(root, d);
  };

  return {
    async stat(digest) {
      const path = pathOf(digest);
      if (!path) return undefined;
      try {
        const s = await stat(path);
        return { digest, size: s.size };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw storageError(err, 'stat blob') ?? err;
      }
    },

    async open(digest, range?: ByteRange) {
      const path = pathOf(digest);
      if (!path) throw new OciError('BLOB_UNKNOWN', { detail: { digest } });
      // Open first so that a missing file is an error here, not mid-response.
      const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') throw new OciError('BLOB_UNKNOWN', { detail: { digest } });
        throw storageError(err, 'open blob') ?? err;
      });
      return createReadStream('', {
        fd: handle, start: range?.start, end: range?.end, highWaterMark: READ_HIGH_WATER_MARK,
      }) as Readable;
    },

    localPath: pathOf,

    async createWriter() {
      const tmpPath = join(tmpDir, randomUUID());
      const handle = await onStorage('create blob', () => fs.open(tmpPath, 'wx+', FILE_MODE));
      const pool = options.fillWorkers;
      if (!pool) return new FsBlobWriter(root, tmpPath, handle, fs);
      try {
        return new FillWorkerWriter(pool, tmpPath, (digest) => blobPath(root, digest), handle, fs);
      } catch (err) {
        await handle.close().catch(() => {});
        await fs.rm(tmpPath, { force: true }).catch(() => {});
        throw new OciError('STORAGE_UNAVAILABLE', { detail: { reason: 'no fill worker', operation: 'create blob' }, cause: err });
      }
    },

    createUpload() {
      return FsBlobUpload.create(join(tmpDir, randomUUID()), (digest) => blobPath(root, digest), fs);
    },

    async delete(digest) {
      const path = pathOf(digest);
      if (!path) return false;
      try {
        await unlink(path);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw err;
      }
    },

    async *list() {
      for (const algorithm of await readdir(join(root, 'blobs')).catch(() => [] as string[])) {
        for (const prefix of await readdir(join(root, 'blobs', algorithm)).catch(() => [] as string[])) {
          const dir = join(root, 'blobs', algorithm, prefix);
          for (const hex of await readdir(dir).catch(() => [] as string[])) {
            const s = await stat(join(dir, hex)).catch(() => undefined);
            if (s?.isFile()) yield { digest: `${algorithm}:${hex}`, size: s.size };
          }
        }
      }
    },

    async cleanTemp() {
      const names = await readdir(tmpDir);
      await Promise.all(names.map((n) => rm(join(tmpDir, n), { force: true, recursive: true })));
      return names.length;
    },
  };
}

class FsBlobWriter implements BlobWriter {
  bytesWritten = 0;
  private readonly hash: Hash = createHash('sha256');
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private closed = false;

  constructor(
    private readonly root: string,
    private readonly tmpPath: string,
    private readonly handle: FileHandle,
    private readonly fs: FsOps,
  ) {}

  write(chunk: Uint8Array): Promise<void> {
    return this.writev([chunk]);
  }

  writev(chunks: Uint8Array[]): Promise<void> {
    return onStorage('write blob', () => this.writeAll(chunks));
  }

  private async writeAll(chunks: Uint8Array[]): Promise<void> {
    if (this.state !== 'open') throw new Error('blob writer is not open');
    for (const chunk of chunks) this.hash.update(chunk);
    this.bytesWritten += await writeChunks(this.handle, chunks, this.bytesWritten);
  }

  read(position: number, length: number): Promise<Buffer> {
    return readWritten(this.handle, position, Math.max(0, Math.min(length, this.bytesWritten - position)));
  }

  async commit(expected: Digest, expectedSize?: number): Promise<BlobInfo> {
    if (this.state !== 'open') throw new Error('blob writer is not open');
    await verifyBlob({ expected, sha256: () => this.hash.digest('hex'), size: this.bytesWritten, expectedSize, abort: () => this.abort() });
    const finalPath = blobPath(this.root, expected);
    await onStorage('commit blob', async () => {
      await this.handle.sync();
      await publishBlobFile(this.fs, this.tmpPath, finalPath);
    });
    this.state = 'committed';
    return { digest: expected.value, size: this.bytesWritten };
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    await this.fs.rm(this.tmpPath, { force: true });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.state === 'open') await this.abort();
    await this.handle.close();
  }
}
