-- The app's own lines, one row a batch: "RFC3339 proc message" lines, newest
-- last. Per-line rows cost ingest more than they were worth: nothing queries
-- a single app line by itself.
CREATE TABLE app_logs (
    app   TEXT    NOT NULL,
    first INTEGER NOT NULL, -- time of the first line, Unix microseconds
    last  INTEGER NOT NULL,
    lines INTEGER NOT NULL,
    body  TEXT    NOT NULL
);
CREATE INDEX app_logs_app_last ON app_logs (app, last);
