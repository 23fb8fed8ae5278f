import type { BrowseIndex } from '../storage/ports.js';
import { imageSize, isRealPlatform, readManifestFacts } from './manifest-facts.js';

/** What a tags table shows of a manifest beyond its row: the image's size and an index's platforms. */
export interface TagFacts {
  /** Config + layers; for an index the sum over its platform manifests cached here; NaN when unknown. */
  size: number;
  platforms: string[];
  /** For an index: how many of its entries are cached in the repository, of how many. */
  cached?: { of: number; count: number };
}

/** Platform manifests of one index whose sizes are added up at most (their rows are read). */
export const MAX_CHILDREN = 64;

/**
 * The facts of `digests` in `repo`, read from the manifests' own JSON (sizes as the
 * manifests state them, whether or not every layer was pulled through). An index's size
 * adds up the platform manifests the repository holds, at most MAX_CHILDREN of them.
 */
export async function tagFacts(browse: BrowseIndex, repo: string, digests: readonly string[]): Promise<Map<string, TagFacts>> {
  const out = new Map<string, TagFacts>();
  for (const row of await browse.repoManifests(repo, digests)) {
    const facts = readManifestFacts(row.bytes);
    if (facts.kind !== 'index') {
      out.set(row.digest, { size: imageSize(facts), platforms: [] });
      continue;
    }
    const entries = facts.manifests.slice(0, MAX_CHILDREN);
    const children = await browse.repoManifests(repo, entries.map((e) => e.digest));
    const size = children.length === 0 || facts.manifests.length > MAX_CHILDREN ? Number.NaN
      : children.reduce((sum, c) => sum + imageSize(readManifestFacts(c.bytes)), 0);
    out.set(row.digest, {
      size,
      platforms: facts.manifests.map((m) => m.platform).filter(isRealPlatform),
      ...(facts.manifests.length <= MAX_CHILDREN ? { cached: { of: facts.manifests.length, count: children.length } } : {}),
    });
  }
  return out;
}

