/**
 * The one typed error of the registry API. Thrown anywhere, turned into the OCI JSON
 * error body in one place (src/http/errors.ts). The table below is the only source of
 * each code's HTTP status and default message.
 * https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes
 */
export const OCI_ERROR_CODES = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  RANGE_INVALID: { status: 416, message: 'requested range not satisfiable' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  UPSTREAM_UNAVAILABLE: { status: 502, message: 'upstream registry unavailable' },
  UPSTREAM_TIMEOUT: { status: 504, message: 'upstream registry timed out' },
  // Not in the OCI spec: the mirror's own disk, kept apart from upstream failures so that
  // an operator (and a load balancer via /readyz) sees where the fault is.
  STORAGE_FULL: { status: 507, message: 'registry storage is full' },
  STORAGE_UNAVAILABLE: { status: 503, message: 'registry storage is unavailable' },
  UNKNOWN: { status: 500, message: 'unknown error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type OciErrorCode = keyof typeof OCI_ERROR_CODES;

export interface OciErrorOptions {
  message?: string;
  detail?: unknown;
  /** Overrides the table's status (e.g. 404 for a malformed digest where the spec allows it). */
  status?: number;
  headers?: Record<string, string>;
  cause?: unknown;
}

export class OciError extends Error {
  readonly code: OciErrorCode;
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Record<string, string>;

  constructor(code: OciErrorCode, options: OciErrorOptions = {}) {
    super(options.message ?? OCI_ERROR_CODES[code].message, { cause: options.cause });
    this.name = 'OciError';
    this.code = code;
    this.status = options.status ?? OCI_ERROR_CODES[code].status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  /** The OCI error body: {"errors":[{"code","message","detail"}]}. */
  toJSON(): { errors: Array<{ code: string; message: string; detail?: unknown }> } {
    const entry: { code: string; message: string; detail?: unknown } = { code: this.code, message: this.message };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}

export function isOciError(err: unknown): err is OciError {
  return err instanceof OciError;
}
