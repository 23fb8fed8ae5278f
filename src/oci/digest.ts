import { createHash } from 'node:crypto';
import { OciError } from './errors.js';

/**
 * Digests as the OCI image spec defines them: `algorithm:encoded`.
 * We verify sha256 (and sha512) content; any other registered algorithm is refused.
 * https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests
 */
export type Algorithm = 'sha256' | 'sha512';

export interface Digest {
  readonly algorithm: Algorithm;
  readonly hex: string;
  /** The canonical `algorithm:hex` form. */
  readonly value: string;
}

const HEX_LENGTH: Record<Algorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;

export function tryParseDigest(value: string): Digest | undefined {
  const m = DIGEST_RE.exec(value);
  if (!m) return undefined;
  const algorithm = m[1] as Algorithm;
  const hex = m[2]!;
  if (hex.length !== HEX_LENGTH[algorithm]) return undefined;
  return { algorithm, hex, value };
}

/** Parses a digest or throws DIGEST_INVALID (400), never a 500. */
export function parseDigest(value: string): Digest {
  const d = tryParseDigest(value);
  if (!d) throw new OciError('DIGEST_INVALID', { message: 'invalid digest', detail: { digest: value } });
  return d;
}

export function isDigest(value: string): boolean {
  return tryParseDigest(value) !== undefined;
}

/** The sha256 digest of some bytes (a manifest), in canonical form. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
