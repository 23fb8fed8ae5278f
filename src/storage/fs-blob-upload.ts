import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { OciError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { BlobInfo, BlobUpload } from './blob-store.js';
import { onStorage } from './storage-errors.js';
import { FILE_MODE, publishBlobFile, type FsOps } from './fs-ops.js';

/**
 * An upload as a temp file opened only while a chunk is written. Between requests it is
 * a path, a size and a sha256 state (a few hundred bytes), so idle uploads hold no file
 * descriptor. Chunks are written at explicit positions: a failed append is cut back
 * (and, should the truncate fail too, overwritten by the next append and cut at commit),
 * so the bytes past `size` never count.
 */
export class FsBlobUpload implements BlobUpload {
  size = 0;
  private hash: Hash = createHash('sha256');
  private state: 'open' | 'committed' | 'aborted' = 'open';

  private constructor(
    private readonly tmpPath: string,
    private readonly finalPath: (digest: Digest) => string,
    private readonly fs: FsOps,
  ) {}

  static async create(tmpPath: string, finalPath: (digest: Digest) => string, fs: FsOps): Promise<FsBlobUpload> {
    await onStorage('create upload', async () => (await fs.open(tmpPath, 'wx', FILE_MODE)).close());
    return new FsBlobUpload(tmpPath, finalPath, fs);
  }

  async append(body: Readable, expectedLength?: number): Promise<number> {
    if (this.state !== 'open') throw new Error('upload is not open');
    // The running hash advances on a copy, adopted only when the whole chunk is on disk.
    const hash = this.hash.copy();
    const start = this.size;
    let written = 0;
    let handle: FileHandle | undefined;
    try {
      handle = await onStorage('open upload', () => this.fs.open(this.tmpPath, 'r+'));
      // destroyOnReturn: false keeps the request alive, so an error response still reaches the client.
      for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        if (expectedLength !== undefined && written + chunk.length > expectedLength) {
          throw new OciError('SIZE_INVALID', { detail: { expected: expectedLength, received: `more than ${expectedLength}` } });
        }
        hash.update(chunk);
        await onStorage('write upload', () => writeAll(handle!, chunk, start + written));
        written += chunk.length;
      }
      if (expectedLength !== undefined && written !== expectedLength) {
        throw new OciError('SIZE_INVALID', { detail: { expected: expectedLength, received: written } });
      }
    } catch (err) {
      body.resume();
      if (handle && written > 0) await handle.truncate(start).catch(() => {});
      throw err;
    } finally {
      await handle?.close().catch(() => {});
    }
    this.hash = hash;
    this.size = start + written;
    return written;
  }

  async commit(expected: Digest): Promise<BlobInfo> {
    if (this.state !== 'open') throw new Error('upload is not open');
    if (expected.algorithm !== 'sha256') {
      await this.abort();
      throw new OciError('UNSUPPORTED', { message: `digest algorithm ${expected.algorithm} is not supported` });
    }
    const actual = `sha256:${this.hash.copy().digest('hex')}`;
    if (actual !== expected.value) {
      await this.abort();
      throw new OciError('DIGEST_INVALID', { detail: { expected: expected.value, actual } });
    }
    await onStorage('commit upload', async () => {
      const handle = await this.fs.open(this.tmpPath, 'r+');
      try {
        await handle.truncate(this.size);
        await handle.sync();
      } finally {
        await handle.close();
      }
      const finalPath = this.finalPath(expected);
      await publishBlobFile(this.fs, this.tmpPath, finalPath);
    });
    this.state = 'committed';
    return { digest: expected.value, size: this.size };
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    await this.fs.rm(this.tmpPath, { force: true });
  }
}

async function writeAll(handle: FileHandle, chunk: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < chunk.length;) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position + done);
    done += bytesWritten;
  }
}
