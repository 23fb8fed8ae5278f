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

/**
 * Issue 13, the PostgreSQL index (pg-pool.ts tags its errors): SQLSTATE 53100 is a full disk;
 * a connection that failed or broke (PG_UNAVAILABLE, class 08), a server shutting down or
 * starting (57P01-57P03), no connection slot (53300) or a read-only standby (25006) is unavailable.
 */
const PG_FULL = new Set(['53100']);
const PG_UNAVAILABLE = /^(PG_UNAVAILABLE|08[0-9A-Z]{3}|57P0[123]|53300|25006)$/;

/** The storage OciError for `err`, or undefined when it is not a storage failure. */
export function storageError(err: unknown, operation?: string): OciError | undefined {
  if (err instanceof OciError || !err || typeof err !== 'object') return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  // SQLite extended codes (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED) share their base's meaning.
  const base = code.startsWith('SQLITE_') ? code.split('_').slice(0, 2).join('_') : code;
  const detail = { reason: code, ...(operation ? { operation } : {}) };
  if (PG_FULL.has(code)) return new OciError('STORAGE_FULL', { detail, cause: err });
  if (PG_UNAVAILABLE.test(code)) return new OciError('STORAGE_UNAVAILABLE', { detail, cause: err });
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
