-- Batches acknowledged but not yet stored as rows: one compact row per batch
-- (see store/sqlite/pending.go), written in the batch's own transaction beside its
-- frame id and its app_logs row. The writer's roller stores them as rows every second or so, many
-- batches to a transaction, and deletes them in that same transaction; a
-- restart after a crash stores what is left.
CREATE TABLE pending_batches (
    id     INTEGER PRIMARY KEY AUTOINCREMENT, -- ids only grow: the roller relies on it
    app    TEXT    NOT NULL,
    lines  INTEGER NOT NULL, -- router lines
    router BLOB,             -- router section: what the rollups need
    rest   BLOB              -- other lines that become rows (and router lines with an H-code)
);
