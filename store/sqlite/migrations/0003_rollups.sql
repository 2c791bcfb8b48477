-- Router lines rolled up per minute and per hour, per (app, dyno, path
-- template, status class), with DDSketch latency sketches (1% relative
-- accuracy) that merge across rows for p50/p95/p99 over any range.

CREATE TABLE request_rollups (
    app     TEXT    NOT NULL,
    res     INTEGER NOT NULL, -- bucket size in seconds: 60 or 3600
    start   INTEGER NOT NULL, -- bucket start, Unix microseconds
    dyno    TEXT    NOT NULL,
    path    TEXT    NOT NULL, -- template: /users/:id
    class   TEXT    NOT NULL, -- 2xx, 3xx, 4xx, 5xx, or - when no status
    count   INTEGER NOT NULL,
    errors  INTEGER NOT NULL, -- status >= 500 or an H-code
    bytes   INTEGER NOT NULL,
    codes   TEXT    NOT NULL, -- H12=3,H10=1
    service BLOB,             -- DDSketch of service ms
    connect BLOB,             -- DDSketch of connect ms
    PRIMARY KEY (app, res, start, dyno, path, class)
) WITHOUT ROWID;
