import type { Readable } from 'node:stream';
import { isOciError } from '../oci/errors.js';
import { tryParseDigest } from '../oci/digest.js';
import type { BlobStore, BlobWriter } from '../storage/blob-store.js';

/**
 * Streams one blob from one store through another's writer, verified (digest, and size
 * when given) before it becomes visible there: `backup` and `migrate-storage`. A source
 * the store no longer has is 'missing'; bytes that do not match the digest are 'corrupt'
 * and nothing is written; any other failure is thrown.
 */
export async function copyBlob(from: BlobStore, to: BlobStore, digestText: string, size: number | undefined): Promise<'copied' | 'missing' | 'corrupt'> {
  const digest = tryParseDigest(digestText);
  if (!digest) return 'corrupt';
  let source: Readable;
  try {
    // A missing file is BLOB_UNKNOWN from open() itself: no stat first.
    source = await from.open(digestText);
  } catch (err) {
    if (isOciError(err) && err.code === 'BLOB_UNKNOWN') return 'missing';
    throw err;
  }
  let writer: BlobWriter;
  try {
    writer = await to.createWriter(digest);
  } catch (err) {
    source.destroy();
    throw err;
  }
  try {
    for await (const chunk of source) await writer.write(chunk as Buffer);
    await writer.commit(digest, size);
    return 'copied';
  } catch (err) {
    await writer.abort();
    if (isOciError(err) && (err.code === 'DIGEST_INVALID' || err.code === 'SIZE_INVALID')) return 'corrupt';
    throw err;
  } finally {
    source.destroy();
    await writer.close();
  }
}
