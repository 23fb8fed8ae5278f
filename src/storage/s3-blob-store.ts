import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand,
  ListMultipartUploadsCommand, ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { OciError } from '../oci/errors.js';
import { tryParseDigest, type Digest } from '../oci/digest.js';
import type { BlobInfo, BlobStore, ByteRange } from './blob-store.js';
import { DIR_MODE, FILE_MODE } from './fs-ops.js';
import { S3BlobUpload } from './s3-blob-upload.js';
import { S3BlobWriter } from './s3-blob-writer.js';
import { answerWithin, blobKey, blobsPrefix, createS3Client, normalizePrefix, type S3Settings, type S3Target } from './s3-client.js';
import { isNotFound, onS3, s3Error, s3Status } from './s3-errors.js';
import { createS3UploadChunks } from './s3-upload-chunks.js';
import { onStorage } from './storage-errors.js';

/**
 * Blobs in an S3 bucket (AWS, radosgw, MinIO):
 *
 *   <prefix>blobs/sha256/<hex>     complete, verified bytes; written once, never partial
 *   <prefix>uploads/<id>/...       chunks of upload sessions shared by replicas (s3-upload-chunks.ts)
 *
 * and, on the local disk, `<spoolDir>/<uuid>`: fills and uploads in progress (what
 * followers read while a fill runs), removed at commit/close and by cleanTemp. An object
 * appears under its digest only after verification (s3-publish.ts). An unreachable or
 * failing store is 503 STORAGE_UNAVAILABLE (s3-errors.ts), never an address to a client.
 * There is no localPath: the HTTP layer streams open(), or (storage.s3.redirect) sends
 * the client to presignedUrl().
 */
export interface S3BlobStoreOptions {
  /** Local dir for spool files (under the data dir; created 0700). */
  spoolDir: string;
  /** cleanTemp aborts multipart uploads under the prefix started longer ago than this (default 1 h). */
  staleMultipartMs?: number;
}

/** The S3 store over a configured client (tests pass their own target). */
export async function createS3BlobStore(target: S3Target, options: S3BlobStoreOptions): Promise<BlobStore> {
  const { client, bucket: Bucket } = target;
  const { spoolDir } = options;
  const staleMs = options.staleMultipartMs ?? 60 * 60 * 1000;
  await onStorage('create spool dir', () => mkdir(spoolDir, { recursive: true, mode: DIR_MODE }));

  const keyOf = (digest: string): string | undefined => {
    const d = tryParseDigest(digest);
    return d && d.algorithm === 'sha256' ? blobKey(target, d) : undefined;
  };

  const store: BlobStore = {
    async stat(digest) {
      const Key = keyOf(digest);
      if (!Key) return undefined;
      try {
        const head = await answerWithin((abortSignal) => client.send(new HeadObjectCommand({ Bucket, Key }), { abortSignal }));
        return { digest, size: head.ContentLength ?? 0 };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw s3Error(err, 'stat blob');
      }
    },

    async open(digest, range?: ByteRange) {
      const Key = keyOf(digest);
      if (!Key) throw new OciError('BLOB_UNKNOWN', { detail: { digest } });
      try {
        const res = await answerWithin((abortSignal) => client.send(new GetObjectCommand({
          Bucket, Key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }), { abortSignal }));
        return res.Body as Readable;
      } catch (err) {
        if (isNotFound(err)) throw new OciError('BLOB_UNKNOWN', { detail: { digest } });
        throw s3Error(err, 'open blob');
      }
    },

    async presignedUrl(digest, ttlMs) {
      const Key = keyOf(digest);
      if (!Key) throw new OciError('BLOB_UNKNOWN', { detail: { digest } });
      // The content type the mirror itself answers with, whatever the object was stored with.
      const command = new GetObjectCommand({ Bucket, Key, ResponseContentType: 'application/octet-stream' });
      return onS3('presign blob', () => getSignedUrl(client, command, { expiresIn: Math.max(1, Math.floor(ttlMs / 1000)) }));
    },

    async ready() {
      try {
        await answerWithin((abortSignal) => client.send(new HeadBucketCommand({ Bucket }), { abortSignal }));
        return undefined;
      } catch (err) {
        // The SDK's message may name the endpoint: only the kind of failure goes out.
        const e = (err ?? {}) as { code?: unknown; name?: unknown };
        const why = s3Status(err) === 404 ? 'bucket not found' : typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'error';
        return `blob store unavailable (S3: ${why})`;
      }
    },

    async createWriter(expected?: Digest) {
      const path = join(spoolDir, randomUUID());
      const handle = await onStorage('create blob', () => open(path, 'wx+', FILE_MODE));
      return new S3BlobWriter(target, path, handle, expected);
    },

    createUpload() {
      return S3BlobUpload.create(target, join(spoolDir, randomUUID()));
    },

    uploadChunks: createS3UploadChunks(target),

    async delete(digest) {
      const Key = keyOf(digest);
      if (!Key) return false;
      // S3's DELETE succeeds on a missing key too: HEAD first to report whether it was there.
      if (!(await store.stat(digest))) return false;
      await onS3('delete blob', () => client.send(new DeleteObjectCommand({ Bucket, Key })));
      return true;
    },

    async *list(): AsyncIterable<BlobInfo> {
      const Prefix = blobsPrefix(target);
      let ContinuationToken: string | undefined;
      do {
        const page = await onS3('list blobs', () => client.send(new ListObjectsV2Command({ Bucket, Prefix, ContinuationToken })));
        for (const o of page.Contents ?? []) {
          const hex = o.Key?.slice(Prefix.length) ?? '';
          if (tryParseDigest(`sha256:${hex}`)) yield { digest: `sha256:${hex}`, size: o.Size ?? 0 };
        }
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (ContinuationToken);
    },

    async cleanTemp() {
      const names = await readdir(spoolDir);
      await Promise.all(names.map((n) => rm(join(spoolDir, n), { force: true, recursive: true })));
      // Only stale multipart uploads: a young one may be another replica's commit in progress.
      let aborted = 0;
      for (const u of await listMultipartUploads(target)) {
        if (u.Initiated && Date.now() - u.Initiated.getTime() < staleMs) continue;
        await client.send(new AbortMultipartUploadCommand({ Bucket, Key: u.Key, UploadId: u.UploadId })).catch(() => {});
        aborted++;
      }
      return names.length + aborted;
    },
  };
  return store;
}

/** Multipart uploads in progress under the store's blobs prefix (every page). */
export async function listMultipartUploads(target: S3Target): Promise<Array<{ Key?: string; UploadId?: string; Initiated?: Date }>> {
  const out: Array<{ Key?: string; UploadId?: string; Initiated?: Date }> = [];
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  do {
    const page = await onS3('list multipart uploads', () => target.client.send(new ListMultipartUploadsCommand({
      Bucket: target.bucket, Prefix: `${target.prefix}blobs/`, KeyMarker, UploadIdMarker,
    })));
    out.push(...(page.Uploads ?? []));
    KeyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    UploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (KeyMarker);
  return out;
}

/** The store as storage.driver: s3 configures it: spool files in `<dataDir>/tmp`, as the file store's temp files (/readyz probes there). */
export function openS3BlobStore(settings: S3Settings, dataDir: string): Promise<BlobStore> {
  const target: S3Target = { client: createS3Client(settings), bucket: settings.bucket, prefix: normalizePrefix(settings.prefix) };
  return createS3BlobStore(target, { spoolDir: join(dataDir, 'tmp') });
}
