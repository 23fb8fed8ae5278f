import type { FileHandle } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand,
  HeadObjectCommand, PutObjectCommand, UploadPartCommand, type CompletedPart,
} from '@aws-sdk/client-s3';
import type { Digest } from '../oci/digest.js';
import { answerWithin, blobKey, type S3Target } from './s3-client.js';
import { isNotFound, isPreconditionFailed, onS3 } from './s3-errors.js';

/** Multipart part size: S3 needs ≥ 5 MiB for every part but the last. */
export const PART_SIZE = 8 * 1024 * 1024;
/** Parts in flight per blob: each holds one PART_SIZE buffer. */
const PART_CONCURRENCY = 2;

/**
 * Makes verified bytes (a local spool file) visible under their digest: one PutObject for
 * a blob of at most one part, else a multipart upload completed only once every part is
 * in. Both are conditional (`If-None-Match: *`): a writer that loses the race to an equal
 * object (same digest, same bytes) has nothing to do, and neither has one that finds the
 * object already there. A failed multipart upload is aborted: nothing partial remains.
 */
export async function publishSpool(target: S3Target, digest: Digest, spool: FileHandle, size: number): Promise<void> {
  const Key = blobKey(target, digest);
  const { client, bucket: Bucket } = target;
  const existing = await onS3('stat blob', () => answerWithin((abortSignal) => client.send(new HeadObjectCommand({ Bucket, Key }), { abortSignal }))
    .then((h) => h.ContentLength, (err: unknown) => { if (isNotFound(err)) return undefined; throw err; }));
  if (existing === size) return;
  if (size <= PART_SIZE) {
    const Body = await readRange(spool, 0, size);
    await onS3('put blob', () => client.send(new PutObjectCommand({ Bucket, Key, Body, ContentLength: size, IfNoneMatch: '*' }))
      .catch((err: unknown) => { if (!isPreconditionFailed(err)) throw err; }));
    return;
  }
  const { UploadId } = await onS3('start multipart upload', () => client.send(new CreateMultipartUploadCommand({ Bucket, Key })));
  try {
    const count = Math.ceil(size / PART_SIZE);
    const parts: CompletedPart[] = new Array(count);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < count; i = next++) {
        const start = i * PART_SIZE;
        const Body = await readRange(spool, start, Math.min(PART_SIZE, size - start));
        const { ETag } = await onS3('upload part', () => client.send(new UploadPartCommand({
          Bucket, Key, UploadId, PartNumber: i + 1, Body, ContentLength: Body.length,
        })));
        parts[i] = { ETag, PartNumber: i + 1 };
      }
    };
    await Promise.all(Array.from({ length: Math.min(PART_CONCURRENCY, count) }, worker));
    await onS3('complete multipart upload', () => client.send(new CompleteMultipartUploadCommand({
      Bucket, Key, UploadId, MultipartUpload: { Parts: parts }, IfNoneMatch: '*',
    })).catch((err: unknown) => { if (!isPreconditionFailed(err)) throw err; }));
  } catch (err) {
    // Best effort: a multipart upload left behind is removed by cleanTemp (stale ones).
    await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => {});
    throw err;
  }
}

/** Exactly `length` bytes of the spool from `position`. */
export async function readRange(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  for (let done = 0; done < length;) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw Object.assign(new Error('spool file shorter than written'), { code: 'EIO' });
    done += bytesRead;
  }
  return buffer;
}
