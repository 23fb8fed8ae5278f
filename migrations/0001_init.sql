-- The index of what the mirror holds. Blob bytes live on disk (storage/fs-blob-store.ts);
-- manifest bytes live here, so a manifest GET never touches the blob tree.
-- Repository names are stored as "<upstream>/<repo>" for mirrored content
-- (e.g. "docker.io/library/alpine") and as the plain name for local namespaces.

CREATE TABLE repositories (
  name        TEXT PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('mirror', 'local')),
  upstream    TEXT,
  created_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE manifests (
  digest        TEXT PRIMARY KEY,
  media_type    TEXT NOT NULL,
  size          INTEGER NOT NULL,
  bytes         BLOB NOT NULL,
  subject       TEXT,
  artifact_type TEXT,
  created_at    INTEGER NOT NULL,
  last_access   INTEGER NOT NULL
);
CREATE INDEX manifests_subject ON manifests (subject) WHERE subject IS NOT NULL;
CREATE INDEX manifests_last_access ON manifests (last_access);

-- Which repositories a manifest was seen in (a digest is only served in those).
CREATE TABLE repo_manifests (
  repo   TEXT NOT NULL,
  digest TEXT NOT NULL,
  PRIMARY KEY (repo, digest)
) WITHOUT ROWID;
CREATE INDEX repo_manifests_digest ON repo_manifests (digest);

CREATE TABLE tags (
  repo        TEXT NOT NULL,
  tag         TEXT NOT NULL,
  digest      TEXT NOT NULL,
  fetched_at  INTEGER NOT NULL,   -- when these bytes were last fetched or pushed
  checked_at  INTEGER NOT NULL,   -- when the upstream last confirmed the digest
  PRIMARY KEY (repo, tag)
) WITHOUT ROWID;
CREATE INDEX tags_digest ON tags (digest);

-- Edges from a manifest to what it references, for GC and prune.
CREATE TABLE manifest_refs (
  parent TEXT NOT NULL,
  child  TEXT NOT NULL,
  kind   TEXT NOT NULL CHECK (kind IN ('layer', 'config', 'manifest', 'subject')),
  PRIMARY KEY (parent, child)
) WITHOUT ROWID;
CREATE INDEX manifest_refs_child ON manifest_refs (child);

CREATE TABLE blobs (
  digest      TEXT PRIMARY KEY,
  size        INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  last_access INTEGER NOT NULL,
  hits        INTEGER NOT NULL DEFAULT 0,
  origin      TEXT NOT NULL CHECK (origin IN ('upstream', 'push'))
);
CREATE INDEX blobs_last_access ON blobs (last_access);

CREATE TABLE repo_blobs (
  repo   TEXT NOT NULL,
  digest TEXT NOT NULL,
  PRIMARY KEY (repo, digest)
) WITHOUT ROWID;
CREATE INDEX repo_blobs_digest ON repo_blobs (digest);

CREATE TABLE uploads (
  id          TEXT PRIMARY KEY,
  repo        TEXT NOT NULL,
  offset      INTEGER NOT NULL DEFAULT 0,
  started_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE INDEX uploads_updated_at ON uploads (updated_at);
