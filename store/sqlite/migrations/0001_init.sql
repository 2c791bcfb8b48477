-- Times are Unix microseconds (UTC), as the syslog timestamps give them.
-- Unknown numbers (an empty connect=, a missing quota) are NULL.

-- Logplex-Frame-Id of every stored batch, so that a retried batch is
-- acknowledged without being stored twice.
CREATE TABLE frames (
    app      TEXT    NOT NULL,
    frame_id TEXT    NOT NULL,
    received INTEGER NOT NULL,
    lines    INTEGER NOT NULL,
    PRIMARY KEY (app, frame_id)
) WITHOUT ROWID;
CREATE INDEX frames_received ON frames (received);

-- Runtime-metrics memory samples (MB; pages for pgpgin/out).
CREATE TABLE memory (
    app       TEXT    NOT NULL,
    time      INTEGER NOT NULL,
    dyno      TEXT    NOT NULL,
    boot      TEXT    NOT NULL,
    total_mb  REAL,
    rss_mb    REAL,
    cache_mb  REAL,
    swap_mb   REAL,
    pgpgin    INTEGER,
    pgpgout   INTEGER,
    quota_mb  REAL
);
CREATE INDEX memory_app_dyno_time ON memory (app, dyno, time);
CREATE INDEX memory_app_time ON memory (app, time);

-- Runtime-metrics load averages.
CREATE TABLE load (
    app    TEXT    NOT NULL,
    time   INTEGER NOT NULL,
    dyno   TEXT    NOT NULL,
    boot   TEXT    NOT NULL,
    avg1m  REAL,
    avg5m  REAL,
    avg15m REAL
);
CREATE INDEX load_app_dyno_time ON load (app, dyno, time);

-- Router lines, one row a request.
CREATE TABLE requests (
    app        TEXT    NOT NULL,
    time       INTEGER NOT NULL,
    dyno       TEXT    NOT NULL,
    at         TEXT    NOT NULL,
    code       TEXT    NOT NULL,
    method     TEXT    NOT NULL,
    path       TEXT    NOT NULL,
    host       TEXT    NOT NULL,
    request_id TEXT    NOT NULL,
    fwd        TEXT    NOT NULL,
    connect_ms INTEGER,
    service_ms INTEGER,
    status     INTEGER,
    bytes      INTEGER,
    protocol   TEXT    NOT NULL
);
CREATE INDEX requests_app_time ON requests (app, time);

-- Memory errors, other coded platform errors, router H-codes, crashes.
-- code: R14, R15, R10, R12, L10, H12…, "mem" for "Process running mem=…",
-- "crash" for a dyno that changed state to crashed.
CREATE TABLE errors (
    app     TEXT    NOT NULL,
    time    INTEGER NOT NULL,
    dyno    TEXT    NOT NULL,
    code    TEXT    NOT NULL,
    message TEXT    NOT NULL,
    mem_mb  REAL,    -- "mem" rows
    percent REAL,    -- "mem" rows
    dropped INTEGER  -- L10 rows
);
CREATE INDEX errors_app_time ON errors (app, time);
CREATE INDEX errors_app_dyno_time ON errors (app, dyno, time);

-- Dyno lifecycle, releases and scaling.
CREATE TABLE events (
    app     TEXT    NOT NULL,
    time    INTEGER NOT NULL,
    dyno    TEXT    NOT NULL,
    kind    TEXT    NOT NULL, -- lifecycle, release, scale
    action  TEXT    NOT NULL, -- state, cycling, restarting, idling, sigterm, sigkill, exited, starting; v9 for releases
    detail  TEXT    NOT NULL, -- "up -> crashed", the command, the formation
    status  INTEGER,          -- exit status
    message TEXT    NOT NULL
);
CREATE INDEX events_app_time ON events (app, time);

-- Numeric samples: add-on metrics and the app's l2met measure#/count#/sample#.
CREATE TABLE samples (
    app    TEXT    NOT NULL,
    time   INTEGER NOT NULL,
    source TEXT    NOT NULL,
    type   TEXT    NOT NULL, -- measure, count, sample, unique
    name   TEXT    NOT NULL,
    value  REAL,
    unit   TEXT    NOT NULL,
    text   TEXT    NOT NULL
);
CREATE INDEX samples_app_name_time ON samples (app, name, time);

-- Every other line, as text: the app's output and unrecognised platform lines.
CREATE TABLE logs (
    app      TEXT    NOT NULL,
    time     INTEGER NOT NULL,
    app_name TEXT    NOT NULL,
    proc     TEXT    NOT NULL,
    message  TEXT    NOT NULL
);
CREATE INDEX logs_app_time ON logs (app, time);
