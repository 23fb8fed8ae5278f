-- Issue 13: who is fetching a blob from its upstream right now, so the other replicas
-- stream it from that replica instead of fetching it again. The claim itself is a session
-- advisory lock (src/storage/pg-lock-session.ts); this row only says where the bytes are.
-- A killed owner leaves its row behind: the next claimant overwrites it.
CREATE TABLE fills (
  digest TEXT PRIMARY KEY,
  owner_url TEXT NOT NULL,
  -- The repository (cache key) the fill was started for: another repository's client
  -- streams it only once its own upstream confirmed the blob.
  repo TEXT NOT NULL,
  started_at BIGINT NOT NULL
);
