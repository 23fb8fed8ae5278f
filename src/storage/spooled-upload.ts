import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { OciError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { BlobInfo, BlobUpload } from './blob-store.js';
import { FILE_MODE, type FsOps } from './fs-ops.js';
import { onStorage } from './storage-errors.js';
import { verifyBlob } from './verify-blob.js';

/**
 * A push's blob as a local spool file opened only while a chunk is written, whatever the
 * store behind it: between requests an upload is a path, a size and a sha256 state (a
 * few hundred bytes), so idle uploads hold no file descriptor. Chunks are written at
 * explicit positions: a failed append is cut back (and, should the truncate fail too,
 * overwritten by the next append), so the bytes past `size` never count. commit verifies
 * the digest and hands the spool to the store's `publish` (fs-blob-upload.ts renames it
 * into place; s3-blob-upload.ts uploads it).
 */
export abstract class SpooledUpload implements BlobUpload {
  size = 0;
  private hash: Hash = createHash('sha256');
  private state: 'open' | 'committed' | 'aborted' = 'open';

  protected constructor(protected readonly spoolPath: string, protected readonly files: Pick<FsOps, 'open' | 'rm'>) {}

  /** Creates the empty spool file (FILE_MODE; fails if it exists). */
  protected static async createSpool(files: Pick<FsOps, 'open'>, path: string): Promise<void> {
    await onStorage('create upload', async () => (await files.open(path, 'wx', FILE_MODE)).close());
  }

  /** Makes the verified spool (its first `size` bytes) the blob `expected`. */
  protected abstract publish(expected: Digest): Promise<void>;

  async append(body: Readable, expectedLength?: number): Promise<number> {
    if (this.state !== 'open') throw new Error('upload is not open');
    // The running hash advances on a copy, adopted only when the whole chunk is on disk.
    const hash = this.hash.copy();
    const start = this.size;
    let written = 0;
    let handle: FileHandle | undefined;
    try {
      handle = await onStorage('open upload', () => this.files.open(this.spoolPath, 'r+'));
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
    await verifyBlob({ expected, sha256: () => this.hash.copy().digest('hex'), size: this.size, abort: () => this.abort() });
    await this.publish(expected);
    this.state = 'committed';
    return { digest: expected.value, size: this.size };
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    await this.files.rm(this.spoolPath, { force: true });
  }
}

async function writeAll(handle: FileHandle, chunk: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < chunk.length;) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position + done);
    done += bytesWritten;
  }
}
