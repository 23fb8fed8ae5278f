/**
 * SQL both index backends share word for word (sqlite-ops.ts, pg-maintenance.ts): the
 * definitions GC and prune decide by, so the two cannot drift apart.
 */

/**
 * Manifests in use, as a recursive CTE body: linked to a repository, or (transitively) a
 * child of a linked index. Subject edges do not count: a referrer keeps nothing alive but
 * itself.
 */
export const LIVE_MANIFESTS = `live(digest) AS (
  SELECT digest FROM repo_manifests
  UNION
  SELECT r.child FROM manifest_refs r JOIN live ON r.parent = live.digest WHERE r.kind = 'manifest')`;

/** True when the blob `b` is linked into a local (pushed-to) repository. */
export const LINKED_LOCALLY = `EXISTS (SELECT 1 FROM repo_blobs rb JOIN repositories r ON r.name = rb.repo
  WHERE rb.digest = b.digest AND r.kind = 'local')`;
