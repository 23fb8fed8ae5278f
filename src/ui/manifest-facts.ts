/**
 * What the console shows of a manifest's JSON: its config and layers, an index's platform
 * manifests, annotations and subject. Read defensively and never throwing (the bytes were
 * validated when stored, but a page must render whatever it finds), with bounds on what
 * is kept, since a manifest may list thousands of entries.
 */

/** A descriptor as shown: sizes that are no non-negative integer become NaN (shown as "–"). */
export interface ShownDescriptor {
  digest: string;
  mediaType: string;
  size: number;
  artifactType?: string;
  /** os/arch[/variant] of an index entry, when it names one. */
  platform?: string;
}

export interface ManifestFacts {
  /** 'other': not JSON, or neither an index nor an image manifest. */
  kind: 'index' | 'image' | 'other';
  /** The parsed JSON; undefined when the bytes are not JSON. */
  json: unknown;
  config?: ShownDescriptor;
  layers: ShownDescriptor[];
  /** An index's entries. */
  manifests: ShownDescriptor[];
  /** Entries (layers or manifests) beyond the kept ones. */
  omitted: number;
  annotations: Array<[string, string]>;
  subject?: ShownDescriptor;
  artifactType?: string;
}

/** Entries kept of a manifest's layers or an index's manifests. */
export const MAX_ENTRIES = 500;
const MAX_ANNOTATIONS = 100;

const str = (v: unknown) => (typeof v === 'string' ? v : '');

function descriptor(v: unknown): ShownDescriptor | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const d = v as Record<string, unknown>;
  if (typeof d.digest !== 'string') return undefined;
  const size = typeof d.size === 'number' && Number.isSafeInteger(d.size) && d.size >= 0 ? d.size : Number.NaN;
  const shown: ShownDescriptor = { digest: d.digest, mediaType: str(d.mediaType), size };
  if (typeof d.artifactType === 'string') shown.artifactType = d.artifactType;
  const p = d.platform as Record<string, unknown> | undefined;
  if (p && typeof p === 'object' && typeof p.os === 'string' && typeof p.architecture === 'string') {
    shown.platform = [p.os, p.architecture, str(p.variant)].filter((x) => x !== '').join('/');
  }
  return shown;
}

function list(v: unknown): { kept: ShownDescriptor[]; omitted: number } {
  if (!Array.isArray(v)) return { kept: [], omitted: 0 };
  const kept = v.slice(0, MAX_ENTRIES).map(descriptor).filter((d): d is ShownDescriptor => d !== undefined);
  return { kept, omitted: Math.max(0, v.length - MAX_ENTRIES) };
}

/** The facts of manifest bytes. */
export function readManifestFacts(bytes: Uint8Array): ManifestFacts {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return { kind: 'other', json: undefined, layers: [], manifests: [], omitted: 0, annotations: [] };
  }
  const doc = json && typeof json === 'object' && !Array.isArray(json) ? json as Record<string, unknown> : {};
  const annotations = doc.annotations && typeof doc.annotations === 'object' && !Array.isArray(doc.annotations)
    ? Object.entries(doc.annotations as Record<string, unknown>).slice(0, MAX_ANNOTATIONS).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)])
    : [];
  const facts: ManifestFacts = { kind: 'other', json, layers: [], manifests: [], omitted: 0, annotations };
  const subject = descriptor(doc.subject);
  if (subject) facts.subject = subject;
  if (typeof doc.artifactType === 'string') facts.artifactType = doc.artifactType;
  if (Array.isArray(doc.manifests)) {
    const { kept, omitted } = list(doc.manifests);
    return { ...facts, kind: 'index', manifests: kept, omitted };
  }
  const config = descriptor(doc.config);
  if (config || Array.isArray(doc.layers)) {
    const { kept, omitted } = list(doc.layers);
    return { ...facts, kind: 'image', ...(config ? { config } : {}), layers: kept, omitted };
  }
  return facts;
}

/** Config plus layers, as the manifest states them; NaN when a size is missing or the image lists more than was kept. */
export function imageSize(facts: ManifestFacts): number {
  if (facts.kind !== 'image' || facts.omitted > 0) return Number.NaN;
  return (facts.config?.size ?? 0) + facts.layers.reduce((sum, l) => sum + l.size, 0);
}

/** Attestations and other non-images in an index say unknown/unknown: no platform to show. */
export function isRealPlatform(platform: string | undefined): platform is string {
  return platform !== undefined && !platform.startsWith('unknown/');
}

/** The JSON pretty-printed for reading, or the bytes as text when they are not JSON. */
export function rawText(bytes: Uint8Array, facts: ManifestFacts): string {
  return facts.json === undefined ? Buffer.from(bytes).toString('utf8') : JSON.stringify(facts.json, null, 2);
}

/** Config media types of plain images: the index records them as artifact type, which says nothing. */
const IMAGE_CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);

/** An artifact type worth showing (a signature's, an SBOM's), or undefined for a plain image. */
export function shownArtifactType(artifactType: string | null | undefined): string | undefined {
  return artifactType && !IMAGE_CONFIG_TYPES.has(artifactType) ? artifactType : undefined;
}
