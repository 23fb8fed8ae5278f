/**
 * The index: every question the app asks about what it holds, behind one interface, so
 * that SQLite (the embedded default) can later be swapped for PostgreSQL.
 * All timestamps are epoch milliseconds.
 */
export interface TagRow {
  digest: string;
  fetchedAt: number;
  checkedAt: number;
}

export interface ManifestRow {
  digest: string;
  mediaType: string;
  size: number;
  bytes: Buffer;
  subject: string | null;
  artifactType: string | null;
  /** The manifest's annotations as JSON text, for referrers answers. */
  annotations: string | null;
}

/** A manifest that names another as its subject (a referrer). */
export interface ReferrerRow {
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string | null;
  annotations: string | null;
}

export interface ManifestRef {
  child: string;
  kind: 'layer' | 'config' | 'manifest' | 'subject';
}

export interface BlobRow {
  digest: string;
  size: number;
  origin: 'upstream' | 'push';
}

export interface IndexStats {
  blobs: number;
  blobBytes: number;
  manifests: number;
  tags: number;
  repositories: number;
}

export interface RegistryIndex {
  getTag(repo: string, tag: string): TagRow | undefined;
  /** Points repo:tag at digest, marking it fetched and checked now. */
  putTag(repo: string, tag: string, digest: string, now: number): void;
  /** The upstream confirmed the tag still points at the same digest. */
  markTagChecked(repo: string, tag: string, now: number): void;
  deleteTag(repo: string, tag: string): void;
  /** Tags of a repository in lexical order, after `last`, at most `n`. */
  listTags(repo: string, n: number, last?: string): string[];

  getManifest(digest: string): ManifestRow | undefined;
  hasRepoManifest(repo: string, digest: string): boolean;
  /** Stores the manifest (once), links it to repo, records its references. */
  putManifest(repo: string, manifest: ManifestRow, refs: ManifestRef[], now: number): void;

  /** Removes the manifest from repo, with every tag of repo that points at it. */
  unlinkManifest(repo: string, digest: string): boolean;
  /** Manifests linked to repo whose subject is `subject`. */
  referrers(repo: string, subject: string): ReferrerRow[];

  getBlob(digest: string): BlobRow | undefined;
  hasRepoBlob(repo: string, digest: string): boolean;
  /** Records a verified blob that is already at its final path, and links it to repo. */
  putBlob(repo: string, blob: BlobRow, now: number): void;
  linkBlob(repo: string, digest: string): void;
  unlinkBlob(repo: string, digest: string): boolean;
  deleteBlob(digest: string): void;

  ensureRepository(name: string, kind: 'mirror' | 'local', upstream: string | null, now: number): void;
  hasRepository(name: string): boolean;
  /** Repository names of one kind in lexical order, after `last`, at most `n`. */
  listRepositories(kind: 'mirror' | 'local', n: number, last?: string): string[];

  /** Notes an access; written in batches by flush(), not per request. */
  touchBlob(digest: string, now: number): void;
  touchManifest(digest: string, now: number): void;
  flush(): void;

  stats(): IndexStats;
  close(): void;
}
