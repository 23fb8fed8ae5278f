import { LRUCache } from 'lru-cache';

/** How a repository serves a manifest: computed once per link lookup, not per request. */
export interface Served {
  digest: string;
  mediaType: string;
  /** `digest mediaType`: the key of the bytes in the memory cache. */
  key: string;
}

interface Entry {
  served: Served;
  checkedAt: number;
}

/**
 * Mirrored tags confirmed within their TTL (by `cacheRepo:tag`), so that a fresh cached
 * tag is answered from memory: the memo in front of MirroredRepository.getManifest. The
 * manifest proxy is the only writer of mirrored tags and writes through: it sets an entry
 * when a tag is fetched or revalidated (`set`) and drops it when the upstream says the tag
 * is gone (`delete`). An entry is used only within its TTL, as long as the mirror promises
 * not to ask anybody anyway; after that the caller reads the index again.
 */
export class ManifestMemo {
  private readonly entries: LRUCache<string, Entry>;
  /** Issue 13: while the replica cannot hear other replicas' tag changes, nothing is memoized. */
  private paused = false;

  constructor(private readonly now: () => number, max = 50_000) {
    this.entries = new LRUCache<string, Entry>({ max });
  }

  /** The entry when it was checked less than `ttlMs` ago; an expired one is dropped. */
  get(key: string, ttlMs: number): Served | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.now() - entry.checkedAt >= ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.served;
  }

  /** The tag was fetched or confirmed upstream at `checkedAt` (it may have moved). */
  set(key: string, served: Served, checkedAt: number): void {
    if (this.paused) return;
    this.entries.set(key, { served, checkedAt });
  }

  /** The tag is gone. */
  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Everything is forgotten (issue 13: another replica's changes may have been missed). */
  clear(): void {
    this.entries.clear();
  }

  /** Issue 13: forgets everything and, while `paused`, memoizes nothing (a lost LISTEN connection): get() then always misses. */
  pause(paused: boolean): void {
    this.paused = paused;
    this.entries.clear();
  }

  /** Every tag of a repository is forgotten (an admin evicted an image there): a walk, admin-rare. */
  deleteRepository(cacheRepo: string): void {
    const prefix = `${cacheRepo}:`;
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.entries.delete(key);
  }
}
