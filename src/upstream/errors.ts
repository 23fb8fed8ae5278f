import { OciError, isOciError } from '../oci/errors.js';
import { ADDRESS_REFUSED } from './address-policy.js';

/**
 * The boundary where network failures towards an upstream become OCI errors (STYLE.md
 * habit 3): the client sees 502/504 with the upstream's configured name and a generic
 * reason, never a stack trace and never the error's own message, which names internal
 * addresses (`connect ECONNREFUSED 10.1.2.3:443`); the original error stays in `cause`
 * for the logs.
 */

/** undici / OS error codes that mean "the upstream took too long" rather than "is gone". */
const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
  'ERR_UPSTREAM_BODY_DEADLINE',
]);

/** Client-facing reasons by error code; anything else is "connection failed". */
const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_CLOSED: 'connection closed',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  ETIMEDOUT: 'connect timed out',
  UND_ERR_HEADERS_TIMEOUT: 'response timed out',
  UND_ERR_BODY_TIMEOUT: 'transfer stalled',
  UND_ERR_ABORTED: 'request aborted',
  [ADDRESS_REFUSED]: 'address not allowed',
  ERR_UPSTREAM_BODY_DEADLINE: 'transfer too slow',
};

/** Extra fields carried in the `detail` of upstream OciErrors. */
export interface UpstreamErrorDetail {
  readonly upstream: string;
  readonly reason: string;
  /** The upstream's HTTP status, when it answered at all. */
  readonly status?: number;
}

/** The error a small body (manifest, tag list) is destroyed with when it does not end in time. */
export function bodyDeadlineError(): Error {
  const err = new Error('upstream body did not end within the timeout');
  (err as NodeJS.ErrnoException).code = 'ERR_UPSTREAM_BODY_DEADLINE';
  return err;
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
  const detail: UpstreamErrorDetail = { upstream, reason: reasonFor(code) };
  return new OciError(code && TIMEOUT_CODES.has(code) ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE', {
    detail,
    cause: err,
  });
}

/** A reason safe for anonymous clients: it names no address, port or path. */
function reasonFor(code: string | undefined): string {
  if (code === undefined) return 'connection failed';
  return REASONS[code] ?? (/^ERR_TLS|CERT|SSL/.test(code) ? 'TLS failed' : 'connection failed');
}
