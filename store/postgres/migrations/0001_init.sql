-- drainwatch's history in PostgreSQL: the tables of store/sqlite's
-- migrations in their final form. Times are Unix microseconds (UTC), as in
-- SQLite, so that the two backends' rows copy as they are; the *_at views
-- (0002) show them as timestamps for `heroku pg:psql`. Unknown numbers
-- (an empty connect=, a missing quota) are NULL.

-- Logplex-Frame-Id of every stored batch: a retried batch is acknowledged
-- without being stored twice, whichever process stored it first.
CREATE TABLE frames (
    app      TEXT   NOT NULL,
    frame_id TEXT   NOT NULL,
    received BIGINT NOT NULL,
    lines    BIGINT NOT NULL,
    PRIMARY KEY (app, frame_id)
);
CREATE INDEX frames_received ON frames (received);

-- Runtime-metrics memory samples (MB; pages for pgpgin/out).
CREATE TABLE memory (
    app      TEXT   NOT NULL,
    time     BIGINT NOT NULL,
    dyno     TEXT   NOT NULL,
    boot     TEXT   NOT NULL,
    total_mb DOUBLE PRECISION,
    rss_mb   DOUBLE PRECISION,
    cache_mb DOUBLE PRECISION,
    swap_mb  DOUBLE PRECISION,
    pgpgin   BIGINT,
    pgpgout  BIGINT,
    quota_mb DOUBLE PRECISION
);
CREATE INDEX memory_app_dyno_time ON memory (app, dyno, time);
CREATE INDEX memory_app_time ON memory (app, time);

-- Runtime-metrics load averages.
CREATE TABLE load (
    app    TEXT   NOT NULL,
    time   BIGINT NOT NULL,
    dyno   TEXT   NOT NULL,
    boot   TEXT   NOT NULL,
    avg1m  DOUBLE PRECISION,
    avg5m  DOUBLE PRECISION,
    avg15m DOUBLE PRECISION
);
CREATE INDEX load_app_dyno_time ON load (app, dyno, time);

-- Router lines, one row a request (only with the raw-requests option).
CREATE TABLE requests (
    app        TEXT   NOT NULL,
    time       BIGINT NOT NULL,
    dyno       TEXT   NOT NULL,
    at         TEXT   NOT NULL,
    code       TEXT   NOT NULL,
    method     TEXT   NOT NULL,
    path       TEXT   NOT NULL,
    host       TEXT   NOT NULL,
    request_id TEXT   NOT NULL,
    fwd        TEXT   NOT NULL,
    connect_ms BIGINT,
    service_ms BIGINT,
    status     BIGINT,
    bytes      BIGINT,
    protocol   TEXT   NOT NULL
);
CREATE INDEX requests_app_time ON requests (app, time);

-- Memory errors, other coded platform errors, router H-codes, crashes.
CREATE TABLE errors (
    id      BIGSERIAL PRIMARY KEY,
    app     TEXT   NOT NULL,
    time    BIGINT NOT NULL,
    dyno    TEXT   NOT NULL,
    code    TEXT   NOT NULL,
    message TEXT   NOT NULL,
    mem_mb  DOUBLE PRECISION, -- "mem" rows
    percent DOUBLE PRECISION, -- "mem" rows
    dropped BIGINT            -- L10 rows
);
CREATE INDEX errors_app_time ON errors (app, time);
CREATE INDEX errors_app_dyno_time ON errors (app, dyno, time);

-- Dyno lifecycle, releases and scaling.
CREATE TABLE events (
    app     TEXT   NOT NULL,
    time    BIGINT NOT NULL,
    dyno    TEXT   NOT NULL,
    kind    TEXT   NOT NULL, -- lifecycle, release, scale
    action  TEXT   NOT NULL,
    detail  TEXT   NOT NULL,
    status  BIGINT,          -- exit status
    message TEXT   NOT NULL
);
CREATE INDEX events_app_time ON events (app, time);

-- Numeric samples: add-on metrics and the app's l2met measure#/count#/sample#.
CREATE TABLE samples (
    app    TEXT   NOT NULL,
    time   BIGINT NOT NULL,
    source TEXT   NOT NULL,
    type   TEXT   NOT NULL,
    name   TEXT   NOT NULL,
    value  DOUBLE PRECISION,
    unit   TEXT   NOT NULL,
    text   TEXT   NOT NULL
);
CREATE INDEX samples_app_name_time ON samples (app, name, time);

-- Unrecognised platform lines, as text.
CREATE TABLE logs (
    app      TEXT   NOT NULL,
    time     BIGINT NOT NULL,
    app_name TEXT   NOT NULL,
    proc     TEXT   NOT NULL,
    message  TEXT   NOT NULL
);
CREATE INDEX logs_app_time ON logs (app, time);

-- The app's own lines, one row a batch: "RFC3339 proc message" lines.
CREATE TABLE app_logs (
    app   TEXT   NOT NULL,
    first BIGINT NOT NULL,
    last  BIGINT NOT NULL,
    lines BIGINT NOT NULL,
    body  TEXT   NOT NULL
);
CREATE INDEX app_logs_app_last ON app_logs (app, last);

-- Every alert fired or resolved; the open episodes are the newest row of
-- each (app, dyno, rule) whose state is firing.
CREATE TABLE alerts (
    id      BIGSERIAL PRIMARY KEY,
    app     TEXT   NOT NULL,
    dyno    TEXT   NOT NULL,
    rule    TEXT   NOT NULL,
    state   TEXT   NOT NULL,
    time    BIGINT NOT NULL,
    summary TEXT   NOT NULL,
    details TEXT   NOT NULL, -- the whole alert, JSON
    created BIGINT NOT NULL
);
CREATE INDEX alerts_app_time ON alerts (app, time);
CREATE INDEX alerts_key ON alerts (app, dyno, rule, id);

-- The delivery queue: one row an alert while it is to be delivered, kept
-- afterwards as a record.
CREATE TABLE deliveries (
    alert_id     BIGINT PRIMARY KEY REFERENCES alerts (id) ON DELETE CASCADE,
    status       TEXT   NOT NULL, -- pending, sent, failed
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL,
    last_error   TEXT   NOT NULL DEFAULT '',
    updated      BIGINT NOT NULL
);
CREATE INDEX deliveries_status ON deliveries (status, alert_id);

-- Router lines rolled up per minute and per hour, per (app, dyno, path
-- template, status class). service and connect are DDSketches in
-- sketches-go's encoding, the same bytes as SQLite's: an encoding whose
-- concatenation decodes as the merge of its parts, so a writer merges its
-- delta into a row in SQL with ||; folding (one process) writes them back
-- merged.
CREATE TABLE request_rollups (
    app     TEXT    NOT NULL,
    res     BIGINT  NOT NULL, -- bucket size in seconds: 60 or 3600
    start   BIGINT  NOT NULL, -- bucket start, Unix microseconds
    dyno    TEXT    NOT NULL,
    path    TEXT    NOT NULL,
    class   TEXT    NOT NULL,
    count   BIGINT  NOT NULL,
    errors  BIGINT  NOT NULL,
    bytes   BIGINT  NOT NULL,
    codes   TEXT    NOT NULL, -- H12=3,H10=1
    service BYTEA,
    connect BYTEA,
    folded  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (app, res, start, dyno, path, class)
);
CREATE INDEX request_rollups_unfolded ON request_rollups (res, folded, start);
CREATE INDEX request_rollups_start ON request_rollups (res, start);

-- Batches acknowledged but not yet stored as rows (store/pending's
-- encoding), written in the acknowledging transaction with the frame id.
-- Any process's roller takes them (FOR UPDATE SKIP LOCKED), stores their
-- rows and deletes them in one transaction.
CREATE TABLE pending_batches (
    id     BIGSERIAL PRIMARY KEY,
    app    TEXT   NOT NULL,
    lines  BIGINT NOT NULL,
    router BYTEA,
    rest   BYTEA,
    alerts BOOLEAN NOT NULL DEFAULT TRUE -- for the alert evaluator too (an import's may not be)
);

-- What the alert evaluator (one process, elected) has still to look at:
-- each stored batch's lines in store/pending's encoding, copied by the
-- roller that stored the batch, deleted by the evaluator once judged.
CREATE TABLE alert_feed (
    id      BIGSERIAL PRIMARY KEY,
    app     TEXT   NOT NULL,
    created BIGINT NOT NULL, -- wall time, Unix microseconds
    router  BYTEA,
    rest    BYTEA
);


-- dw_codes_merge(a, b): the H-code counts of both ("H12=3,H10=1"), added
-- up, keys in byte order (as the Go side writes them).
CREATE FUNCTION dw_codes_merge(a TEXT, b TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN b = '' THEN a WHEN a = '' THEN b ELSE (
        SELECT string_agg(k || '=' || n, ',' ORDER BY k COLLATE "C")
        FROM (SELECT split_part(kv, '=', 1) AS k, SUM(split_part(kv, '=', 2)::bigint) AS n
              FROM unnest(string_to_array(a || ',' || b, ',')) AS kv
              WHERE kv LIKE '%=%' GROUP BY 1) AS s) END
$$;
