import type { Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';

/**
 * The check every store makes before a blob becomes visible, in this order: its size
 * (when the caller knows it), an algorithm the store hashes (sha256 only: sha512 content
 * is rare and refused), and the digest of the bytes written. On a mismatch `abort()`
 * discards the bytes first, then the OCI error is thrown; nothing was made visible.
 */
export async function verifyBlob(p: {
  expected: Digest;
  /** The sha256 of the bytes written, hex (read only once the algorithm is known good). */
  sha256: () => string;
  size: number;
  expectedSize?: number;
  abort: () => Promise<void>;
}): Promise<void> {
  if (p.expectedSize !== undefined && p.expectedSize !== p.size) {
    await p.abort();
    throw new OciError('SIZE_INVALID', { detail: { expected: p.expectedSize, received: p.size } });
  }
  if (p.expected.algorithm !== 'sha256') {
    await p.abort();
    throw new OciError('UNSUPPORTED', { message: `digest algorithm ${p.expected.algorithm} is not supported` });
  }
  const actual = `sha256:${p.sha256()}`;
  if (actual !== p.expected.value) {
    await p.abort();
    throw new OciError('DIGEST_INVALID', { detail: { expected: p.expected.value, actual } });
  }
}
