import { sha256Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import { parseManifest, type ParsedManifest } from '../oci/manifest.js';
import type { Reference } from '../oci/names.js';
import type { RegistryIndex } from '../storage/registry-index.js';

/** Content types that say nothing about the manifest (the JSON's mediaType decides). */
const GENERIC_TYPES = new Set(['', 'application/json', 'application/octet-stream']);

/**
 * Checks a pushed manifest (end-7) before anything is stored: valid JSON of schema 2, a
 * Content-Type that agrees with its mediaType, the digest when pushed by digest, and every
 * blob and child manifest it references already in this repository.
 */
export function validatePushedManifest(
  index: RegistryIndex,
  repo: string,
  ref: Reference,
  bytes: Buffer,
  contentType: string | undefined,
): { digest: string; parsed: ParsedManifest } {
  const digest = sha256Digest(bytes);
  if (ref.kind === 'digest' && ref.digest.value !== digest) {
    throw new OciError('DIGEST_INVALID', { message: 'manifest digest does not match its content', detail: { expected: ref.digest.value, actual: digest } });
  }
  const header = contentType?.split(';')[0]?.trim() ?? '';
  const parsed = parseManifest(bytes, GENERIC_TYPES.has(header) ? undefined : header);
  const doc = JSON.parse(bytes.toString('utf8')) as { schemaVersion?: unknown; mediaType?: unknown };
  if (doc.schemaVersion !== 2) {
    throw new OciError('MANIFEST_INVALID', { detail: { reason: 'schemaVersion must be 2' } });
  }
  if (typeof doc.mediaType === 'string' && !GENERIC_TYPES.has(header) && doc.mediaType !== header) {
    throw new OciError('MANIFEST_INVALID', { detail: { reason: `Content-Type ${header} does not match mediaType ${doc.mediaType}` } });
  }
  for (const r of parsed.refs) {
    const known = r.kind === 'manifest' ? index.hasRepoManifest(repo, r.child) : index.hasRepoBlob(repo, r.child);
    if (!known) throw new OciError('MANIFEST_BLOB_UNKNOWN', { detail: { digest: r.child } });
  }
  return { digest, parsed };
}
