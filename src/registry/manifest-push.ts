import { sha256Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import { contentTypeMediaType, parseManifest, type ParsedManifest } from '../oci/manifest.js';
import type { Reference } from '../oci/names.js';
import type { RegistryIndex } from '../storage/registry-index.js';

/**
 * Checks a pushed manifest (end-7) before anything is stored: valid JSON of schema 2 at
 * most MAX_JSON_DEPTH deep, manifest media types only (never e.g. text/html, which would
 * become the Content-Type every puller gets), a Content-Type that agrees with its mediaType, the digest when pushed by digest, and every
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
  const parsed = parseManifest(bytes, contentType);
  const header = contentTypeMediaType(contentType);
  const doc = JSON.parse(bytes.toString('utf8')) as { schemaVersion?: unknown; mediaType?: unknown };
  if (doc.schemaVersion !== 2) {
    throw new OciError('MANIFEST_INVALID', { detail: { reason: 'schemaVersion must be 2' } });
  }
  if (typeof doc.mediaType === 'string' && header !== '' && doc.mediaType !== header) {
    throw new OciError('MANIFEST_INVALID', { detail: { reason: `Content-Type ${header} does not match mediaType ${doc.mediaType}` } });
  }
  for (const r of parsed.refs) {
    const known = r.kind === 'manifest' ? index.hasRepoManifest(repo, r.child) : index.hasRepoBlob(repo, r.child);
    if (!known) throw new OciError('MANIFEST_BLOB_UNKNOWN', { detail: { digest: r.child } });
  }
  return { digest, parsed };
}
