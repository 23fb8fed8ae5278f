import { sha256Digest } from '../oci/digest.js';
import { readManifest, type ManifestDocument } from '../oci/manifest.js';
import type { ManifestRef, ManifestRow } from '../storage/index-rows.js';

/** A manifest parsed once and turned into what the index stores. */
export interface IngestedManifest extends ManifestDocument {
  digest: string;
  /** The manifest row (media type as parsed: the link keeps it per repository). */
  row: ManifestRow;
  /** What it references: children, config, layers, and its subject (for referrers). */
  refs: ManifestRef[];
}

/**
 * The one way a manifest enters the index, for pushes (registry/manifest-push.ts) and
 * mirror fills (proxy/manifests.ts): parsed once (depth-limited, media types validated,
 * see oci/manifest.ts readManifest), and its rows computed here. `digest` is passed
 * when the caller has already computed it to check it first. Throws MANIFEST_INVALID.
 */
export function ingestManifest(bytes: Buffer, contentType: string | undefined, digest = sha256Digest(bytes)): IngestedManifest {
  const doc = readManifest(bytes, contentType);
  const m = doc.manifest;
  const row: ManifestRow = {
    digest, mediaType: m.mediaType, size: bytes.length, bytes, subject: m.subject, artifactType: m.artifactType,
    annotations: m.annotations ? JSON.stringify(m.annotations) : null,
  };
  const refs: ManifestRef[] = m.subject ? [...m.refs, { child: m.subject, kind: 'subject' }] : m.refs;
  return { ...doc, digest, row, refs };
}
