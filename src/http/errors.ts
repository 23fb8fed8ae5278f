import type { Context } from 'hono';
import { OciError, isOciError } from '../oci/errors.js';
import type { Logger } from '../log/logger.js';
import { storageError } from '../storage/storage-errors.js';
import type { AppEnv } from './app-env.js';
import { API_VERSION } from './respond.js';

/**
 * The one place where thrown errors become responses: an OciError becomes its OCI JSON
 * body and status; anything else is logged with its stack and answered as a bare 500
 * UNKNOWN, never with the stack.
 */
export function createErrorHandler(log: Logger) {
  return (err: Error, c: Context<AppEnv>): Response => {
    let oci: OciError;
    // A storage failure that reached here untranslated (SQLITE_FULL from an index write).
    err = storageError(err) ?? err;
    if (isOciError(err)) {
      oci = err;
      if (oci.status >= 500) log.warn('request failed', { method: c.req.method, path: c.req.path, error: err });
    } else {
      log.error('unexpected error', { method: c.req.method, path: c.req.path, error: err, stack: err?.stack });
      oci = new OciError('UNKNOWN');
    }
    c.set('error', err);
    return errorResponse(c, oci);
  };
}

export function errorResponse(c: Context<AppEnv>, err: OciError): Response {
  const body = c.req.method === 'HEAD' ? null : JSON.stringify(err.toJSON());
  return new Response(body, {
    status: err.status,
    headers: { ...API_VERSION, 'Content-Type': 'application/json; charset=utf-8', ...err.headers },
  });
}
