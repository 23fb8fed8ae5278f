import { createHash, type Hash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { OciError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { BlobInfo, BlobUpload } from './blob-store.js';
import { FILE_MODE } from './fs-ops.js';
import type { S3Target } from './s3-client.js';
import { onS3 } from './s3-errors.js';
import { publishSpool } from './s3-publish.js';
import { onStorage } from './storage-errors.js';

/**
 * A push's blob for the S3 store: the chunks go to a local spool file opened only while a
 * chunk is written (idle uploads hold no descriptor, as in fs-blob-upload.ts), and the
 * verified bytes are uploaded to S3 at commit (s3-publish.ts: one PUT, or 8 MiB parts).
 * A failed append is cut back, so bytes past `size` never count.
 */
export class S3BlobUpload implements BlobUpload {
  size = 0;
  private hash: Hash = createHash('sha256');
  private state: 'open' | 'committed' | 'aborted' = 'open';

  private constructor(private readonly target: S3Target, private readonly spoolPath: string) {}

  static async create(target: S3Target, spoolPath: string): Promise<S3BlobUpload> {
    await onStorage('create upload', async () => (await open(spoolPath, 'wx', FILE_MODE)).close());
    return new S3BlobUpload(target, spoolPath);
  }

  async append(body: Readable, expectedLength?: number): Promise<number> {
    if (this.state !== 'open') throw new Error('upload is not open');
    const hash = this.hash.copy();
    const start = this.size;
    let written = 0;
    let handle: FileHandle | undefined;
    try {
      handle = await onStorage('open upload', () => open(this.spoolPath, 'r+'));
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
    const handle = await onStorage('open upload', () => open(this.spoolPath, 'r'));
    try {
      await onS3('commit upload', () => publishSpool(this.target, expected, handle, this.size));
    } finally {
      await handle.close().catch(() => {});
    }
    this.state = 'committed';
    await rm(this.spoolPath, { force: true });
    return { digest: expected.value, size: this.size };
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    await rm(this.spoolPath, { force: true });
  }
}

async function writeAll(handle: FileHandle, chunk: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < chunk.length;) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position + done);
    done += bytesWritten;
  }
}
