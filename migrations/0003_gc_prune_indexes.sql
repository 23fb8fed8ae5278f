-- Prune walks mirrored blobs least recently accessed first (last_access, then hits, then
-- digest as a stable tie-break for paging). A partial index makes that walk an index scan
-- that never visits pushed blobs, which prune must not evict.
CREATE INDEX blobs_evictable ON blobs (last_access, hits, digest) WHERE origin = 'upstream';

-- GC looks only at pushed blobs older than its grace period.
CREATE INDEX blobs_pushed ON blobs (created_at) WHERE origin = 'push';
