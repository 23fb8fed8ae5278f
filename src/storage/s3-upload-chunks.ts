import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { OciError } from '../oci/errors.js';
import type { S3Target } from './s3-client.js';
import { isNotFound, onS3, s3Error } from './s3-errors.js';
import type { UploadChunkStore } from './upload-chunks.js';

/**
 * Parts of a chunk streamed at once: lib-storage holds one part in memory while it is
 * sent (S3's minimum part size), so a PATCH costs at most ~2 parts of RAM, whatever its
 * length, and a body of one part or less is a single PUT.
 */
const PART_SIZE = 5 * 1024 * 1024;
const QUEUE_SIZE = 1;
/** Deletes in flight at once (DeleteObjects needs a Content-MD5 some S3 stores refuse to compute for us). */
const DELETE_CONCURRENCY = 4;

/** `<prefix>uploads/`: where chunk objects live (upload-chunks.ts draws the layout). */
export function uploadsPrefix(target: S3Target): string {
  return `${target.prefix}uploads/`;
}

/** Chunk objects of shared upload sessions in the bucket of `target` (issue 13). */
export function createS3UploadChunks(target: S3Target): UploadChunkStore {
  const { client, bucket: Bucket } = target;
  const base = uploadsPrefix(target);

  const deleteKeys = async (keys: readonly string[]): Promise<void> => {
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < keys.length; i = next++) {
        await onS3('delete upload chunk', () => client.send(new DeleteObjectCommand({ Bucket, Key: keys[i] })));
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, keys.length) }, worker));
  };

  return {
    async put(id, start, body, expectedLength) {
      const name = `${id}/${String(start).padStart(16, '0')}-${randomBytes(6).toString('hex')}`;
      const Key = base + name;
      let length = 0;
      let bodyFailed = false;
      // Counted on the way: a body longer than announced fails before its excess is sent,
      // a shorter one before its last part is (the generator throws before yielding it).
      async function* counted(): AsyncGenerator<Buffer> {
        try {
          for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
            length += chunk.length;
            if (expectedLength !== undefined && length > expectedLength) {
              throw new OciError('SIZE_INVALID', { detail: { expected: expectedLength, received: `more than ${expectedLength}` } });
            }
            yield chunk;
          }
        } catch (err) {
          bodyFailed = true;
          throw err;
        }
        if (expectedLength !== undefined && length !== expectedLength) {
          bodyFailed = true;
          throw new OciError('SIZE_INVALID', { detail: { expected: expectedLength, received: length } });
        }
      }
      const upload = new Upload({ client, params: { Bucket, Key, Body: Readable.from(counted()) }, partSize: PART_SIZE, queueSize: QUEUE_SIZE });
      try {
        await upload.done();
      } catch (err) {
        body.resume();
        // Upload aborts its multipart upload itself; a single PUT that failed late may
        // still have landed: nothing of this attempt may stay (a leftover is swept anyway).
        await client.send(new DeleteObjectCommand({ Bucket, Key })).catch(() => {});
        // The client's own failure (gone, wrong length) is not the store's.
        throw bodyFailed || err instanceof OciError ? err : s3Error(err, 'put upload chunk');
      }
      return { name, length };
    },

    async open(name) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket, Key: base + name }));
        return res.Body as Readable;
      } catch (err) {
        if (isNotFound(err)) throw new OciError('BLOB_UPLOAD_INVALID', { message: 'a chunk of this upload is missing from the store; start the upload again' });
        throw s3Error(err, 'open upload chunk');
      }
    },

    delete: (names) => deleteKeys(names.map((n) => base + n)),

    async sweep(before, known, live) {
      let removed = 0;
      let ContinuationToken: string | undefined;
      do {
        const page = await onS3('list upload chunks', () => client.send(new ListObjectsV2Command({ Bucket, Prefix: base, ContinuationToken })));
        const old = (page.Contents ?? []).filter((o) => o.Key && o.LastModified && o.LastModified.getTime() < before).map((o) => o.Key!.slice(base.length));
        if (old.length > 0) {
          const keep = await known(old);
          const orphans = old.filter((n) => !keep.has(n));
          await deleteKeys(orphans.map((n) => base + n));
          removed += orphans.length;
        }
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (ContinuationToken);
      // A replica that died while streaming a large chunk leaves a multipart upload.
      let KeyMarker: string | undefined;
      let UploadIdMarker: string | undefined;
      do {
        const page = await onS3('list multipart uploads', () => client.send(new ListMultipartUploadsCommand({ Bucket, Prefix: base, KeyMarker, UploadIdMarker })));
        const old = (page.Uploads ?? []).filter((u) => u.Key && u.UploadId && u.Initiated && u.Initiated.getTime() < before);
        const sessionOf = (key: string) => key.slice(base.length).split('/')[0]!;
        const alive = old.length > 0 ? await live([...new Set(old.map((u) => sessionOf(u.Key!)))]) : new Set<string>();
        for (const u of old) {
          if (alive.has(sessionOf(u.Key!))) continue;
          await client.send(new AbortMultipartUploadCommand({ Bucket, Key: u.Key, UploadId: u.UploadId })).then(() => { removed++; }, () => {});
        }
        KeyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        UploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
      } while (KeyMarker);
      return removed;
    },
  };
}
