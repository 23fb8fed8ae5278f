-- Cache statistics that survive a restart (issue 11). Counters are added in batches by the
-- server's periodic flush (admin/stats-recorder.ts), never per request: one row per hour
-- and counter name ("manifest.hit", "bytes.served", "upstream.docker.io.requests", ...), so
-- the last hour, day and all time are sums over a range of hours.
CREATE TABLE stats_hourly (
  hour  INTEGER NOT NULL,   -- epoch ms of the hour's start
  name  TEXT NOT NULL,
  value INTEGER NOT NULL,
  PRIMARY KEY (hour, name)
) WITHOUT ROWID;

-- Manifest pulls per repository (GET and HEAD), for "top repositories by pulls".
CREATE TABLE stats_repo_pulls (
  repo      TEXT PRIMARY KEY,
  pulls     INTEGER NOT NULL,
  last_pull INTEGER NOT NULL
) WITHOUT ROWID;
