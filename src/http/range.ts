import { OciError } from '../oci/errors.js';
import type { ByteRange } from '../storage/blob-store.js';

/**
 * Resolves a `Range: bytes=...` header against a size (RFC 9110 §14.1.2). Only a single
 * range is served; a header we do not understand is ignored (a 200 with the whole blob,
 * as the RFC allows). An unsatisfiable range is a 416 carrying `Content-Range: bytes * /size`.
 */
export function resolveRange(header: string | undefined, size: number): ByteRange | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) throw unsatisfiable(size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size) throw unsatisfiable(size);
  return { start, end };
}

function unsatisfiable(size: number): OciError {
  return new OciError('RANGE_INVALID', { detail: { size }, headers: { 'Content-Range': `bytes */${size}` } });
}
