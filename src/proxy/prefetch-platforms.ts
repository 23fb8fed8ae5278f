import { LRUCache } from 'lru-cache';
import { MEDIA_TYPES } from '../oci/manifest.js';

/** Index entries remembered (digest → platform) to learn from a client's later pull by digest. */
const MAX_ENTRIES = 10_000;
/** Platforms learned from clients; the oldest is forgotten beyond this. */
const MAX_LEARNED = 32;

const IMAGE_TYPES = new Set<string>([MEDIA_TYPES.dockerManifest, MEDIA_TYPES.ociManifest]);

/** `os/arch` or `os/arch/variant`, lower-case; undefined for anything else. */
export function platformKey(p: { os?: unknown; architecture?: unknown; variant?: unknown } | undefined): string | undefined {
  if (!p || typeof p.os !== 'string' || typeof p.architecture !== 'string' || !p.os || !p.architecture) return undefined;
  const base = `${p.os}/${p.architecture}`.toLowerCase();
  return typeof p.variant === 'string' && p.variant ? `${base}/${p.variant.toLowerCase()}` : base;
}

/**
 * Which platform manifests of an index eager prefetch fetches (issue 9): those of the
 * platforms configured (`upstream.prefetch_platforms`; "linux/arm64" matches every variant)
 * and those clients of this mirror have pulled before — learned when a client asks for a
 * manifest by digest that an index fetched earlier named, with its platform. A Docker Hub
 * index lists up to a dozen platforms plus attestations; fetching all would spend the
 * rate limit on images nobody here runs. In memory and bounded: a hint, not the truth.
 */
export class PrefetchPlatforms {
  private readonly configured: ReadonlySet<string>;
  private readonly learned = new Set<string>();
  private readonly entries = new LRUCache<string, string>({ max: MAX_ENTRIES });

  constructor(configured: readonly string[]) {
    this.configured = new Set(configured.map((p) => p.toLowerCase()));
  }

  /**
   * The bytes of an index just fetched from the upstream: remembers each image entry's
   * platform and returns the digests of the entries to prefetch (image manifests only:
   * never a nested index, never an attestation's "unknown" platform).
   */
  choose(indexBytes: Buffer): string[] {
    let doc: { manifests?: unknown };
    try {
      doc = JSON.parse(indexBytes.toString('utf8'));
    } catch {
      return [];
    }
    if (!Array.isArray(doc?.manifests)) return [];
    const chosen: string[] = [];
    for (const entry of doc.manifests as Array<{ digest?: unknown; mediaType?: unknown; platform?: Parameters<typeof platformKey>[0] }>) {
      if (!entry || typeof entry.digest !== 'string' || typeof entry.mediaType !== 'string' || !IMAGE_TYPES.has(entry.mediaType)) continue;
      const key = platformKey(entry.platform);
      if (!key || key.startsWith('unknown/')) continue;
      this.entries.set(entry.digest, key);
      if (this.wanted(key) && !chosen.includes(entry.digest)) chosen.push(entry.digest);
    }
    return chosen;
  }

  /** A client asked for this manifest by digest: the platform an index gave it is learned. */
  noteClientPull(digest: string): void {
    if (this.entries.size === 0) return;
    const key = this.entries.get(digest);
    if (key === undefined || this.learned.has(key)) return;
    this.learned.add(key);
    if (this.learned.size > MAX_LEARNED) this.learned.delete(this.learned.values().next().value!);
  }

  /** Platforms learned from clients, oldest first (admin stats). */
  get learnedPlatforms(): string[] {
    return [...this.learned];
  }

  private wanted(key: string): boolean {
    if (this.learned.has(key) || this.configured.has(key)) return true;
    const parts = key.split('/');
    return parts.length === 3 && this.configured.has(`${parts[0]}/${parts[1]}`);
  }
}
