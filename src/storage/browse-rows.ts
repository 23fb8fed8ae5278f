/**
 * The rows the console's browsing port (ports.ts BrowseIndex) answers, whatever the
 * backend. Timestamps are epoch milliseconds.
 */

/** One repository as the console lists it. */
export interface RepositorySummary {
  /** The index name: "<upstream>/<repo>" for mirrored content, the plain name for local. */
  name: string;
  kind: 'mirror' | 'local';
  upstream: string | null;
  /** Distinct blob bytes linked to the repository (a blob shared with another repository counts for both). */
  bytes: number;
  tags: number;
  /** The latest manifest pull the stats recorded; null when none was. */
  lastPull: number | null;
  pulls: number;
  createdAt: number;
}

/** What listRepositories selects; every field optional but `limit`. */
export interface RepositoryQuery {
  kind?: 'mirror' | 'local';
  upstream?: string;
  /** A substring of the name (matched literally: `%` and `_` are no wildcards). */
  search?: string;
  /** Keyset paging: names strictly after this one. */
  after?: string;
  limit: number;
}

/** A tag with its manifest's row. */
export interface TagDetail {
  tag: string;
  digest: string;
  /** As linked in this repository. */
  mediaType: string;
  /** The manifest's own bytes. */
  size: number;
  fetchedAt: number;
  checkedAt: number;
  /** The manifest's last access (pull). */
  lastAccess: number;
}

/** A manifest linked to a repository that no tag names and no index of the repository lists. */
export interface UntaggedManifest {
  digest: string;
  mediaType: string;
  size: number;
  /** The digest it refers to (a referrer: signature, SBOM), or null. */
  subject: string | null;
  artifactType: string | null;
  createdAt: number;
  lastAccess: number;
}
