import type { FileHandle } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand,
  HeadObjectCommand, UploadPartCommand, type CompletedPart,
} from '@aws-sdk/client-s3';
import type { Digest } from '../oci/digest.js';
import { blobKey, type S3Target } from './s3-client.js';
import { isPreconditionFailed } from './s3-errors.js';
import { PART_SIZE, readRange } from './s3-publish.js';

/**
 * Parts sent while a fill is still being written, when the writer was told the digest to
 * expect (createWriter(expected)): each full 8 MiB of the spool goes to a multipart upload
 * under the final key as soon as it is written, so commit has only the last part left.
 * The multipart upload is invisible until CompleteMultipartUpload, which only commit calls,
 * after verification. Best effort throughout: a part that fails (or an object already there)
 * turns this off, the upload is aborted, and commit publishes from the spool instead.
 */
export class EarlyParts {
  private uploadId: string | undefined;
  private readonly parts: CompletedPart[] = [];
  /** Bytes in parts that succeeded (parts go one at a time, in order). */
  private sent = 0;
  /** Bytes handed to the chain (sent + queued). */
  private scheduled = 0;
  private chain: Promise<void> = Promise.resolve();
  private failed = false;
  private finished = false;
  /** Set by abort: queued parts are skipped, not sent. */
  private cancelled = false;

  constructor(
    private readonly target: S3Target,
    readonly digest: Digest,
    private readonly spool: FileHandle,
  ) {}

  /**
   * Called after each write: queues every newly full part. The fill never waits for S3:
   * a queued part is only a range of the spool, read (one 8 MiB buffer) when its turn comes.
   */
  written(bytesWritten: number): void {
    while (!this.failed && !this.finished && bytesWritten - this.scheduled >= PART_SIZE) {
      const start = this.scheduled;
      this.scheduled += PART_SIZE;
      this.chain = this.chain.then(() => this.sendPart(start, PART_SIZE));
    }
  }

  /**
   * After verification: sends the rest and completes. True when the object is in place
   * (ours, or an equal one that won the conditional write); false when the caller must
   * publish from the spool (the multipart upload is then aborted).
   */
  async complete(size: number): Promise<boolean> {
    await this.chain;
    this.finished = true;
    if (!this.failed && this.uploadId !== undefined && size > this.sent) await this.sendPart(this.sent, size - this.sent);
    if (this.failed || this.uploadId === undefined) {
      await this.abort();
      return false;
    }
    try {
      const { client, bucket: Bucket } = this.target;
      await client.send(new CompleteMultipartUploadCommand({
        Bucket, Key: this.key(), UploadId: this.uploadId, MultipartUpload: { Parts: this.parts }, IfNoneMatch: '*',
      })).catch((err: unknown) => { if (!isPreconditionFailed(err)) throw err; });
      this.uploadId = undefined;
      return true;
    } catch {
      await this.abort();
      return false;
    }
  }

  /** Drops whatever was sent (mismatch, close without commit); never throws. */
  async abort(): Promise<void> {
    this.finished = true;
    this.cancelled = true;
    await this.chain;
    const UploadId = this.uploadId;
    this.uploadId = undefined;
    if (UploadId) {
      await this.target.client.send(new AbortMultipartUploadCommand({ Bucket: this.target.bucket, Key: this.key(), UploadId })).catch(() => {});
    }
  }

  private key(): string {
    return blobKey(this.target, this.digest);
  }

  /** Never rejects: a failure turns early parts off. */
  private async sendPart(start: number, length: number): Promise<void> {
    if (this.failed || this.cancelled) return;
    const { client, bucket: Bucket } = this.target;
    try {
      if (this.uploadId === undefined) {
        // An earlier fill (or another replica) may have the object already: nothing to send.
        const there = await client.send(new HeadObjectCommand({ Bucket, Key: this.key() })).then(() => true, () => false);
        if (there) throw new Error('object already there');
        this.uploadId = (await client.send(new CreateMultipartUploadCommand({ Bucket, Key: this.key() }))).UploadId;
      }
      const Body = await readRange(this.spool, start, length);
      const PartNumber = this.parts.length + 1;
      const { ETag } = await client.send(new UploadPartCommand({ Bucket, Key: this.key(), UploadId: this.uploadId, PartNumber, Body, ContentLength: length }));
      this.parts.push({ ETag, PartNumber });
      this.sent = start + length;
    } catch {
      this.failed = true;
    }
  }
}
