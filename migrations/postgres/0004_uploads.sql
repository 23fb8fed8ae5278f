-- Issue 13: upload sessions shared by the replicas, so that a push started on one can be
-- continued and finished on another. A session's bytes are chunk objects in the bucket
-- (<prefix>uploads/<id>/...), one row each here, in offset order; `size` is the offset the
-- next chunk must start at and only moves by a conditional UPDATE (WHERE size = start).
-- `finishing`: a PUT is assembling the chunks; no more may be appended. Times are epoch ms.
-- Numbered 0004 after 0003 (another part of issue 13): migratePg applies what it finds in order.
CREATE TABLE upload_sessions (
  id TEXT PRIMARY KEY,
  repo TEXT NOT NULL,
  owner TEXT NOT NULL,
  size BIGINT NOT NULL DEFAULT 0,
  chunks INTEGER NOT NULL DEFAULT 0,
  finishing BOOLEAN NOT NULL DEFAULT false,
  updated_at BIGINT NOT NULL
);
CREATE INDEX upload_sessions_owner ON upload_sessions (owner);
CREATE INDEX upload_sessions_updated ON upload_sessions (updated_at);

CREATE TABLE upload_chunks (
  upload_id TEXT NOT NULL REFERENCES upload_sessions (id) ON DELETE CASCADE,
  start BIGINT NOT NULL,
  length BIGINT NOT NULL,
  name TEXT NOT NULL UNIQUE,
  PRIMARY KEY (upload_id, start)
);
