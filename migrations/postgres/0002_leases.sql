-- Issue 13: a lease per background job (retention), so one replica of several runs it.
-- expires_at is epoch milliseconds, as every other time in the index.
CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);
