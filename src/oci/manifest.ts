import { OciError } from './errors.js';
import { isDigest } from './digest.js';

/** The manifest media types a registry must serve (PROTOCOL.md, OCI image spec). */
export const MEDIA_TYPES = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
} as const;

export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.dockerManifest, MEDIA_TYPES.dockerList, MEDIA_TYPES.ociManifest, MEDIA_TYPES.ociIndex,
].join(', ');

const INDEX_TYPES = new Set<string>([MEDIA_TYPES.dockerList, MEDIA_TYPES.ociIndex]);

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface ParsedManifest {
  mediaType: string;
  /** Child manifests (index) or config + layers (image manifest). */
  refs: Array<{ child: string; kind: 'layer' | 'config' | 'manifest' }>;
  subject: string | null;
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

function descriptor(value: unknown, where: string): Descriptor {
  const d = value as Descriptor | null;
  if (!d || typeof d !== 'object' || typeof d.digest !== 'string' || !isDigest(d.digest)
    || typeof d.size !== 'number' || !Number.isInteger(d.size) || d.size < 0) {
    throw new OciError('MANIFEST_INVALID', { detail: { reason: `invalid descriptor at ${where}` } });
  }
  return d;
}

/**
 * Parses manifest bytes far enough to know their media type and what they reference.
 * `contentType` is the Content-Type it came with; the JSON `mediaType` field wins when
 * the header is missing or generic.
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): ParsedManifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new OciError('MANIFEST_INVALID', { detail: { reason: 'manifest is not valid JSON' } });
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new OciError('MANIFEST_INVALID', { detail: { reason: 'manifest is not a JSON object' } });
  }
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const header = contentType?.split(';')[0]?.trim();
  const mediaType = declared
    ?? (header && header !== 'application/json' && header !== 'application/octet-stream' ? header : undefined)
    ?? (Array.isArray(doc.manifests) ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest);

  const refs: ParsedManifest['refs'] = [];
  if (INDEX_TYPES.has(mediaType) || Array.isArray(doc.manifests)) {
    if (!Array.isArray(doc.manifests)) throw new OciError('MANIFEST_INVALID', { detail: { reason: 'index without manifests' } });
    doc.manifests.forEach((m, i) => refs.push({ child: descriptor(m, `manifests[${i}]`).digest, kind: 'manifest' }));
  } else {
    if (doc.config !== undefined) refs.push({ child: descriptor(doc.config, 'config').digest, kind: 'config' });
    if (doc.layers !== undefined) {
      if (!Array.isArray(doc.layers)) throw new OciError('MANIFEST_INVALID', { detail: { reason: 'layers is not an array' } });
      doc.layers.forEach((l, i) => refs.push({ child: descriptor(l, `layers[${i}]`).digest, kind: 'layer' }));
    }
  }
  const subject = doc.subject === undefined ? null : descriptor(doc.subject, 'subject').digest;
  const configType = (doc.config as Descriptor | undefined)?.mediaType;
  // The referrers API reports artifactType, or for an image manifest the config's media type.
  const artifactType = typeof doc.artifactType === 'string' ? doc.artifactType : configType ?? null;
  const annotations = doc.annotations && typeof doc.annotations === 'object' ? doc.annotations as Record<string, string> : null;
  return { mediaType, refs, subject, artifactType, annotations };
}
