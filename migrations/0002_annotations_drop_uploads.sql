-- Referrers answers carry each manifest's annotations.
ALTER TABLE manifests ADD COLUMN annotations TEXT;

-- Upload sessions live in memory with their open temp file (which cannot outlive the
-- process; startup removes temp files), so the table planned for them is not used.
DROP TABLE uploads;
