import { sha256Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import { contentTypeMediaType } from '../oci/manifest.js';
import type { Reference } from '../oci/names.js';
import { ingestManifest, type IngestedManifest } from '../repository/manifest-ingest.js';
import type { StoragePorts } from '../storage/ports.js';

/**
 * Checks a pushed manifest (end-7) before anything is stored: valid JSON of schema 2 at
 * most MAX_JSON_DEPTH deep, manifest media types only (never e.g. text/html, which would
 * become the Content-Type every puller gets), a Content-Type that agrees with its mediaType, the digest when pushed by digest, and every
 * blob and child manifest it references already in this repository.
 */
export async function validatePushedManifest(
  ports: Pick<StoragePorts, 'manifests' | 'blobs'>,
  repo: string,
  ref: Reference,
  bytes: Buffer,
  contentType: string | undefined,
): Promise<IngestedManifest> {
  const digest = sha256Digest(bytes);
  if (ref.kind === 'digest' && ref.digest.value !== digest) {
    throw new OciError('DIGEST_INVALID', { message: 'manifest digest does not match its content', detail: { expected: ref.digest.value, actual: digest } });
  }
  const ingested = ingestManifest(bytes, contentType, digest);
  const header = contentTypeMediaType(contentType);
  if (ingested.schemaVersion !== 2) {
    throw new OciError('MANIFEST_INVALID', { detail: { reason: 'schemaVersion must be 2' } });
  }
  const declared = ingested.declaredMediaType;
  if (declared !== undefined && header !== '' && declared !== header) {
    throw new OciError('MANIFEST_INVALID', { detail: { reason: `Content-Type ${header} does not match mediaType ${declared}` } });
  }
  for (const r of ingested.manifest.refs) {
    const known = r.kind === 'manifest' ? await ports.manifests.hasRepoManifest(repo, r.child) : await ports.blobs.hasRepoBlob(repo, r.child);
    if (!known) throw new OciError('MANIFEST_BLOB_UNKNOWN', { detail: { digest: r.child } });
  }
  return ingested;
}
