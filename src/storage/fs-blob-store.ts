import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { OciError } from '../oci/errors.js';
import { tryParseDigest, type Digest } from '../oci/digest.js';
import type { BlobInfo, BlobStore, BlobWriter, ByteRange } from './blob-store.js';

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
 * file at its final path is always complete.
 */
const READ_HIGH_WATER_MARK = 1024 * 1024;

export function blobPath(root: string, digest: Digest): string {
  return join(root, 'blobs', digest.algorithm, digest.hex.slice(0, 2), digest.hex);
}

export async function createFsBlobStore(root: string): Promise<BlobStore> {
  const tmpDir = join(root, 'tmp');
  await mkdir(tmpDir, { recursive: true });
  await mkdir(join(root, 'blobs'), { recursive: true });

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
        throw err;
      }
    },

    async open(digest, range?: ByteRange) {
      const path = pathOf(digest);
      if (!path) throw new OciError('BLOB_UNKNOWN', { detail: { digest } });
      // Open first so that a missing file is an error here, not mid-response.
      const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') throw new OciError('BLOB_UNKNOWN', { detail: { digest } });
        throw err;
      });
      return createReadStream('', {
        fd: handle, start: range?.start, end: range?.end, highWaterMark: READ_HIGH_WATER_MARK,
      }) as Readable;
    },

    localPath: pathOf,

    async createWriter() {
      const tmpPath = join(tmpDir, randomUUID());
      const handle = await open(tmpPath, 'w+');
      return new FsBlobWriter(root, tmpPath, handle);
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
  ) {}

  write(chunk: Uint8Array): Promise<void> {
    return this.writev([chunk]);
  }

  async writev(chunks: Uint8Array[]): Promise<void> {
    if (this.state !== 'open') throw new Error('blob writer is not open');
    let total = 0;
    for (const chunk of chunks) {
      this.hash.update(chunk);
      total += chunk.length;
    }
    let { bytesWritten } = await this.handle.writev(chunks, this.bytesWritten);
    this.bytesWritten += bytesWritten;
    // A short write (rare on regular files): finish what is left chunk by chunk.
    let skip = bytesWritten;
    for (const chunk of bytesWritten < total ? chunks : []) {
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      for (let offset = skip; offset < chunk.length; offset += bytesWritten) {
        ({ bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset, this.bytesWritten));
        this.bytesWritten += bytesWritten;
      }
      skip = 0;
    }
  }

  async read(position: number, length: number): Promise<Buffer> {
    const n = Math.max(0, Math.min(length, this.bytesWritten - position));
    const buf = Buffer.allocUnsafe(n);
    let done = 0;
    while (done < n) {
      const { bytesRead } = await this.handle.read(buf, done, n - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === n ? buf : buf.subarray(0, done);
  }

  async commit(expected: Digest, expectedSize?: number): Promise<BlobInfo> {
    if (this.state !== 'open') throw new Error('blob writer is not open');
    if (expectedSize !== undefined && expectedSize !== this.bytesWritten) {
      await this.abort();
      throw new OciError('SIZE_INVALID', { detail: { expected: expectedSize, received: this.bytesWritten } });
    }
    if (expected.algorithm !== 'sha256') {
      // Only sha256 is hashed while writing; sha512 content is rare and refused.
      await this.abort();
      throw new OciError('UNSUPPORTED', { message: `digest algorithm ${expected.algorithm} is not supported` });
    }
    const actual = `sha256:${this.hash.digest('hex')}`;
    if (actual !== expected.value) {
      await this.abort();
      throw new OciError('DIGEST_INVALID', { detail: { expected: expected.value, actual } });
    }
    await this.handle.sync();
    const finalPath = blobPath(this.root, expected);
    await mkdir(join(finalPath, '..'), { recursive: true });
    await rename(this.tmpPath, finalPath);
    this.state = 'committed';
    return { digest: expected.value, size: this.bytesWritten };
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    await rm(this.tmpPath, { force: true });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.state === 'open') await this.abort();
    await this.handle.close();
  }
}
