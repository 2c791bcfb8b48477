-- Minute rollups are folded into hour rows by a background job once their
-- minute is over, instead of every batch writing both.
ALTER TABLE request_rollups ADD COLUMN folded INTEGER NOT NULL DEFAULT 0;
CREATE INDEX request_rollups_unfolded ON request_rollups (res, folded, start);
