import { open, rm } from 'node:fs/promises';
import type { Digest } from '../oci/digest.js';
import { NODE_FS } from './fs-ops.js';
import type { S3Target } from './s3-client.js';
import { onS3 } from './s3-errors.js';
import { publishSpool } from './s3-publish.js';
import { SpooledUpload } from './spooled-upload.js';
import { onStorage } from './storage-errors.js';

/**
 * A push's blob for the S3 store: the chunks go to a local spool file (spooled-upload.ts:
 * idle uploads hold no descriptor, a failed append is cut back), and the verified bytes
 * are uploaded to S3 at commit (s3-publish.ts: one PUT, or 8 MiB parts).
 */
export class S3BlobUpload extends SpooledUpload {
  private constructor(private readonly target: S3Target, spoolPath: string) {
    super(spoolPath, NODE_FS);
  }

  static async create(target: S3Target, spoolPath: string): Promise<S3BlobUpload> {
    await SpooledUpload.createSpool(NODE_FS, spoolPath);
    return new S3BlobUpload(target, spoolPath);
  }

  protected async publish(expected: Digest): Promise<void> {
    const handle = await onStorage('open upload', () => open(this.spoolPath, 'r'));
    try {
      await onS3('commit upload', () => publishSpool(this.target, expected, handle, this.size));
    } finally {
      await handle.close().catch(() => {});
    }
    await rm(this.spoolPath, { force: true });
  }
}
