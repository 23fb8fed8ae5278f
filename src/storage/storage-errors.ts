import { OciError } from '../oci/errors.js';

/**
 * Storage failures (the data dir's disk, its permissions, SQLite) become their own OCI
 * codes here, at the storage boundary, so that a full disk is never reported as an
 * upstream fault or a bare 500. The original error is kept as `cause` for the log; the
 * client sees only the code and the operation, never a path.
 */
const FULL = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'SQLITE_FULL']);
const UNAVAILABLE = new Set([
  'EACCES', 'EPERM', 'EROFS', 'EIO', 'ENOTDIR', 'EISDIR', 'EMFILE', 'ENFILE', 'ESTALE', 'ENXIO',
  'SQLITE_READONLY', 'SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_CORRUPT', 'SQLITE_NOTADB',
]);

/** The storage OciError for `err`, or undefined when it is not a storage failure. */
export function storageError(err: unknown, operation?: string): OciError | undefined {
  if (err instanceof OciError || !err || typeof err !== 'object') return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  // SQLite extended codes (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED) share their base's meaning.
  const base = code.startsWith('SQLITE_') ? code.split('_').slice(0, 2).join('_') : code;
  const detail = { reason: code, ...(operation ? { operation } : {}) };
  if (FULL.has(base)) return new OciError('STORAGE_FULL', { detail, cause: err });
  if (UNAVAILABLE.has(base)) return new OciError('STORAGE_UNAVAILABLE', { detail, cause: err });
  return undefined;
}

/** Runs a storage operation, translating a failure with storageError (others pass through). */
export async function onStorage<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw storageError(err, operation) ?? err;
  }
}
