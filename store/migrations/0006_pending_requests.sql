-- Router lines acknowledged but not yet in the rollup rows: one compact row
-- per batch (see store/pending.go), written in the batch's own transaction.
-- The writer folds them into request_rollups every second or so and deletes
-- them in that same transaction; queries read them beside the rollups, and a
-- restart after a crash replays them.
CREATE TABLE pending_requests (
    id    INTEGER PRIMARY KEY AUTOINCREMENT, -- ids only grow: the roller relies on it
    app   TEXT    NOT NULL,
    first INTEGER NOT NULL, -- minute start of the earliest line, Unix microseconds
    last  INTEGER NOT NULL, -- minute start of the latest line
    lines INTEGER NOT NULL,
    body  BLOB    NOT NULL
);
