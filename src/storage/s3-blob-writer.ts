import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { rm } from 'node:fs/promises';
import type { Digest } from '../oci/digest.js';
import type { BlobInfo, BlobWriter } from './blob-store.js';
import { readWritten, writeChunks } from './fill-worker-writer.js';
import type { S3Target } from './s3-client.js';
import { onS3 } from './s3-errors.js';
import { EarlyParts } from './s3-early-parts.js';
import { publishSpool } from './s3-publish.js';
import { onStorage } from './storage-errors.js';
import { verifyBlob } from './verify-blob.js';

/**
 * A cache fill into S3. The bytes go to a local spool file (0600, under the data dir) as
 * they arrive, hashed on the way: followers read() from it while the fill runs, and the
 * digest is only known — and verified — at commit, which then uploads the spool under
 * `<prefix>blobs/sha256/<hex>` (s3-publish.ts). Nothing reaches the bucket before the
 * digest and size are verified, so a mismatch leaves no object at all.
 *
 * Told the digest to expect (createWriter(expected), a cache fill), it also sends each full
 * 8 MiB part while the fill runs (s3-early-parts.ts): a multipart upload that stays
 * invisible until commit completes it, so commit has only the last part left to send.
 */
export class S3BlobWriter implements BlobWriter {
  bytesWritten = 0;
  private readonly hash: Hash = createHash('sha256');
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private closed = false;
  private readonly early: EarlyParts | undefined;

  constructor(
    private readonly target: S3Target,
    private readonly spoolPath: string,
    private readonly handle: FileHandle,
    expected?: Digest,
  ) {
    if (expected?.algorithm === 'sha256') this.early = new EarlyParts(target, expected, handle);
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.writev([chunk]);
  }

  writev(chunks: Uint8Array[]): Promise<void> {
    return onStorage('write blob', async () => {
      if (this.state !== 'open') throw new Error('blob writer is not open');
      for (const chunk of chunks) this.hash.update(chunk);
      this.bytesWritten += await writeChunks(this.handle, chunks, this.bytesWritten);
      this.early?.written(this.bytesWritten);
    });
  }

  read(position: number, length: number): Promise<Buffer> {
    return readWritten(this.handle, position, Math.max(0, Math.min(length, this.bytesWritten - position)));
  }

  async commit(expected: Digest, expectedSize?: number): Promise<BlobInfo> {
    if (this.state !== 'open') throw new Error('blob writer is not open');
    await verifyBlob({ expected, sha256: () => this.hash.digest('hex'), size: this.bytesWritten, expectedSize, abort: () => this.abort() });
    try {
      const early = this.early?.digest.value === expected.value ? await this.early.complete(this.bytesWritten) : false;
      if (!early) {
        await this.early?.abort();
        await onS3('commit blob', () => publishSpool(this.target, expected, this.handle, this.bytesWritten));
      }
    } catch (err) {
      await this.abort();
      throw err;
    }
    // The spool stays until close(): a follower may still be reading behind the fill.
    this.state = 'committed';
    return { digest: expected.value, size: this.bytesWritten };
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    await this.early?.abort();
    await rm(this.spoolPath, { force: true });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.state === 'open') await this.abort();
    await this.handle.close().catch(() => {});
    await rm(this.spoolPath, { force: true });
  }
}
