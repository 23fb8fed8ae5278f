import { OciError } from '../oci/errors.js';

/**
 * S3 failures as the storage errors of storage-errors.ts: an unreachable store, a 5xx,
 * refused credentials or a missing bucket are 503 STORAGE_UNAVAILABLE; a quota is 507
 * STORAGE_FULL. The client sees the code, the operation and the S3 error's name (never
 * its message, which may carry the endpoint or the bucket); the original stays as
 * `cause` for the log.
 */
const FULL = new Set(['QuotaExceeded', 'EntityTooLarge', 'ENOSPC', 'EDQUOT']);

/** The S3 SDK error's HTTP status, when the store answered. */
export function s3Status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/** True for "no such object" answers (HEAD has no body, so only a 404 status). */
export function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name;
  return name === 'NotFound' || name === 'NoSuchKey' || (s3Status(err) === 404 && name !== 'NoSuchBucket');
}

/** True when a conditional write lost: an object already exists under the key. */
export function isPreconditionFailed(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name;
  return s3Status(err) === 412 || name === 'PreconditionFailed';
}

/** The storage OciError for an S3 (or local spool) failure; an OciError passes through. */
export function s3Error(err: unknown, operation: string): OciError {
  if (err instanceof OciError) return err;
  const e = (err ?? {}) as { name?: unknown; code?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const name = typeof e.name === 'string' && e.name !== 'Error' ? e.name : undefined;
  const reason = code ?? name ?? 'S3Error';
  const detail = { reason, operation };
  if (FULL.has(reason) || s3Status(err) === 507) return new OciError('STORAGE_FULL', { detail, cause: err });
  return new OciError('STORAGE_UNAVAILABLE', { detail, cause: err });
}

/** Runs an S3 call, translating any failure with s3Error. */
export async function onS3<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw s3Error(err, operation);
  }
}
