-- The PostgreSQL index (issue 13): the schema SQLite reaches after its migrations 0001-0005
-- (migrations/*.sql), in one step. Timestamps are epoch milliseconds and sizes are bytes:
-- BIGINT (the driver answers them as strings; pg-*.ts parse them to numbers). Manifest
-- bytes are BYTEA. Text compares byte-wise (COLLATE "C"), as SQLite does, so keyset paging
-- and "in lexical order" answer the same on both backends whatever the database's locale.

CREATE TABLE repositories (
  name        TEXT COLLATE "C" PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('mirror', 'local')),
  upstream    TEXT COLLATE "C",
  created_at  BIGINT NOT NULL
);

CREATE TABLE manifests (
  digest        TEXT COLLATE "C" PRIMARY KEY,
  media_type    TEXT NOT NULL,
  size          BIGINT NOT NULL,
  bytes         BYTEA NOT NULL,
  subject       TEXT COLLATE "C",
  artifact_type TEXT,
  annotations   TEXT,
  created_at    BIGINT NOT NULL,
  last_access   BIGINT NOT NULL
);
CREATE INDEX manifests_subject ON manifests (subject) WHERE subject IS NOT NULL;
CREATE INDEX manifests_last_access ON manifests (last_access);

-- Which repositories a manifest was seen in, with the media type that repository serves.
CREATE TABLE repo_manifests (
  repo       TEXT COLLATE "C" NOT NULL,
  digest     TEXT COLLATE "C" NOT NULL,
  media_type TEXT,
  PRIMARY KEY (repo, digest)
);
CREATE INDEX repo_manifests_digest ON repo_manifests (digest);

CREATE TABLE tags (
  repo        TEXT COLLATE "C" NOT NULL,
  tag         TEXT COLLATE "C" NOT NULL,
  digest      TEXT COLLATE "C" NOT NULL,
  fetched_at  BIGINT NOT NULL,   -- when these bytes were last fetched or pushed
  checked_at  BIGINT NOT NULL,   -- when the upstream last confirmed the digest
  PRIMARY KEY (repo, tag)
);
CREATE INDEX tags_digest ON tags (digest);

-- Edges from a manifest to what it references, for GC and prune.
CREATE TABLE manifest_refs (
  parent TEXT COLLATE "C" NOT NULL,
  child  TEXT COLLATE "C" NOT NULL,
  kind   TEXT NOT NULL CHECK (kind IN ('layer', 'config', 'manifest', 'subject')),
  PRIMARY KEY (parent, child)
);
CREATE INDEX manifest_refs_child ON manifest_refs (child);

CREATE TABLE blobs (
  digest      TEXT COLLATE "C" PRIMARY KEY,
  size        BIGINT NOT NULL,
  created_at  BIGINT NOT NULL,
  last_access BIGINT NOT NULL,
  hits        BIGINT NOT NULL DEFAULT 0,
  origin      TEXT NOT NULL CHECK (origin IN ('upstream', 'push'))
);
CREATE INDEX blobs_last_access ON blobs (last_access);
-- Prune's walk (last_access, hits, digest) over mirrored blobs only; GC's over pushed ones.
CREATE INDEX blobs_evictable ON blobs (last_access, hits, digest) WHERE origin = 'upstream';
CREATE INDEX blobs_pushed ON blobs (created_at) WHERE origin = 'push';

CREATE TABLE repo_blobs (
  repo   TEXT COLLATE "C" NOT NULL,
  digest TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (repo, digest)
);
CREATE INDEX repo_blobs_digest ON repo_blobs (digest);

-- Cache statistics that survive a restart (issue 11): one row per hour and counter name.
CREATE TABLE stats_hourly (
  hour  BIGINT NOT NULL,   -- epoch ms of the hour's start
  name  TEXT COLLATE "C" NOT NULL,
  value BIGINT NOT NULL,
  PRIMARY KEY (hour, name)
);

-- Manifest pulls per repository (GET and HEAD), for "top repositories by pulls".
CREATE TABLE stats_repo_pulls (
  repo      TEXT COLLATE "C" PRIMARY KEY,
  pulls     BIGINT NOT NULL,
  last_pull BIGINT NOT NULL
);
