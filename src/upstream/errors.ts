import { OciError, isOciError } from '../oci/errors.js';

/**
 * The boundary where network failures towards an upstream become OCI errors (STYLE.md
 * habit 3): the client sees 502/504 with the upstream's name and a short reason, never a
 * stack trace; the original error stays in `cause` for the logs.
 */

/** undici / OS error codes that mean "the upstream took too long" rather than "is gone". */
const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/** Extra fields carried in the `detail` of upstream OciErrors. */
export interface UpstreamErrorDetail {
  readonly upstream: string;
  readonly reason: string;
  /** The upstream's HTTP status, when it answered at all. */
  readonly status?: number;
}

/** The `code` (undici `UND_ERR_*` or errno string) of an error, if it has one. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/**
 * Turns whatever a request to an upstream threw into an OciError:
 * timeouts become UPSTREAM_TIMEOUT (504), everything else UPSTREAM_UNAVAILABLE (502).
 * An OciError passes through unchanged.
 */
export function toUpstreamError(err: unknown, upstream: string): OciError {
  if (isOciError(err)) return err;
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const reason = code ? `${code}: ${message}` : message;
  const detail: UpstreamErrorDetail = { upstream, reason };
  return new OciError(code && TIMEOUT_CODES.has(code) ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE', {
    detail,
    cause: err,
  });
}
