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

/** Content types that say nothing about the manifest (its JSON decides). */
const GENERIC_TYPES = new Set(['', 'application/json', 'application/octet-stream']);

/**
 * RFC 6838 §4.2 `type/subtype`: restricted-name = first char ALPHA / DIGIT, then up to 126
 * of ALPHA / DIGIT / ! # $ & - ^ _ . + (a `+suffix` is part of the subtype). No
 * parameters, no spaces, no CR/LF: a manifest's media type becomes a response header.
 */
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/**
 * True for a media type a manifest may have: valid RFC 6838 grammar, and an
 * `application/` JSON type (`json`, `...+json`, or Docker schema 1's `...+prettyjws`).
 * Anything else (`text/html`, `image/svg+xml`, `application/xhtml+xml`) is a type a
 * browser may render or run, and no registry serves a manifest as one.
 */
export function isManifestMediaType(value: string): boolean {
  if (!MEDIA_TYPE_RE.test(value)) return false;
  const [type, subtype] = value.toLowerCase().split('/') as [string, string];
  return type === 'application' && (subtype === 'json' || subtype.endsWith('+json') || subtype.endsWith('+prettyjws'));
}

/**
 * The Content-Type to serve a stored manifest with: its media type when valid, else
 * application/octet-stream (rows written before media types were validated).
 */
export function servedMediaType(stored: string): string {
  return isManifestMediaType(stored) ? stored : 'application/octet-stream';
}

/** Deepest JSON nesting accepted: OCI manifests are a few levels deep (annotations are flat). */
export const MAX_JSON_DEPTH = 64;

/**
 * True when the JSON text nests objects/arrays deeper than `max`. A byte scan that runs
 * before JSON.parse, so a hostile body never reaches a recursive parse or stringify
 * (5,000 levels overflow the stack there).
 */
export function exceedsJsonDepth(bytes: Uint8Array, max: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === 0x5c) i++; // backslash: skip the escaped byte
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x7b || b === 0x5b) {
      if (++depth > max) return true;
    } else if (b === 0x7d || b === 0x5d) depth--;
  }
  return false;
}

function invalid(reason: string): OciError {
  return new OciError('MANIFEST_INVALID', { detail: { reason } });
}

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
 * The media type part of a Content-Type header ('' when absent or generic). HTTP allows
 * parameters there (`; charset=utf-8`); they are dropped, never stored or served. A type
 * that is not a manifest media type is MANIFEST_INVALID.
 */
export function contentTypeMediaType(contentType: string | undefined): string {
  const type = (contentType?.split(';')[0] ?? '').trim();
  if (GENERIC_TYPES.has(type.toLowerCase())) return '';
  if (!isManifestMediaType(type)) throw invalid('Content-Type is not a manifest media type');
  return type;
}

/**
 * Parses manifest bytes far enough to know their media type and what they reference.
 * `contentType` is the Content-Type it came with; the JSON `mediaType` field wins when
 * the header is missing or generic. Both must be manifest media types
 * (isManifestMediaType), and the JSON at most MAX_JSON_DEPTH deep.
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): ParsedManifest {
  return readManifest(bytes, contentType).manifest;
}

/** parseManifest, plus the top-level fields a push checks further (the JSON is parsed once). */
export interface ManifestDocument {
  manifest: ParsedManifest;
  schemaVersion: unknown;
  /** The JSON `mediaType` field, when there is one. */
  declaredMediaType: string | undefined;
}

/** As parseManifest, keeping what the push checks need, so nobody parses the JSON again. */
export function readManifest(bytes: Uint8Array, contentType?: string): ManifestDocument {
  if (exceedsJsonDepth(bytes)) throw invalid(`manifest JSON nests deeper than ${MAX_JSON_DEPTH} levels`);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw invalid('manifest is not a JSON object');
  }
  if (doc.mediaType !== undefined && (typeof doc.mediaType !== 'string' || !isManifestMediaType(doc.mediaType))) {
    throw invalid('mediaType is not a manifest media type');
  }
  const declared = doc.mediaType as string | undefined;
  const header = contentTypeMediaType(contentType);
  const mediaType = declared
    ?? (header || undefined)
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
  return { manifest: { mediaType, refs, subject, artifactType, annotations }, schemaVersion: doc.schemaVersion, declaredMediaType: declared };
}
