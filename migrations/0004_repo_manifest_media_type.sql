-- A manifest's media type belongs to the repository link, not to the digest: the first
-- writer of a digest (e.g. a pusher) must not decide the Content-Type that another
-- repository (e.g. a mirrored one) serves the same bytes with. Existing links take the
-- media type the manifest row has; readers fall back to it when the link has none.
ALTER TABLE repo_manifests ADD COLUMN media_type TEXT;
UPDATE repo_manifests SET media_type = (SELECT m.media_type FROM manifests m WHERE m.digest = repo_manifests.digest);

-- Before this migration a mirrored repository could be linked to a pushed blob on a
-- failure path (the upstream did not answer, the blob was served and linked anyway).
-- Drop links from non-local repositories to pushed blobs that no manifest of that
-- repository references: a legitimate one costs one verified fetch from the upstream.
DELETE FROM repo_blobs
WHERE repo NOT IN (SELECT name FROM repositories WHERE kind = 'local')
  AND digest IN (SELECT digest FROM blobs WHERE origin = 'push')
  AND NOT EXISTS (
    SELECT 1 FROM manifest_refs r JOIN repo_manifests rm ON rm.digest = r.parent
    WHERE r.child = repo_blobs.digest AND rm.repo = repo_blobs.repo AND r.kind IN ('config', 'layer'));
