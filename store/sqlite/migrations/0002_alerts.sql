-- Every alert fired or resolved, and its delivery to the notifier (Slack).

CREATE TABLE alerts (
    id       INTEGER PRIMARY KEY,
    app      TEXT    NOT NULL,
    dyno     TEXT    NOT NULL,
    rule     TEXT    NOT NULL, -- over-quota, near-quota, leak
    state    TEXT    NOT NULL, -- firing, resolved
    time     INTEGER NOT NULL, -- log time, Unix microseconds
    summary  TEXT    NOT NULL,
    details  TEXT    NOT NULL, -- the whole alert, JSON
    created  INTEGER NOT NULL  -- wall time of recording
);
CREATE INDEX alerts_app_time ON alerts (app, time);
CREATE INDEX alerts_key ON alerts (app, dyno, rule, id);

-- One row an alert while it is to be delivered; kept afterwards as a record.
CREATE TABLE deliveries (
    alert_id     INTEGER PRIMARY KEY REFERENCES alerts (id),
    status       TEXT    NOT NULL, -- pending, sent, failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL, -- wall time, Unix microseconds
    last_error   TEXT    NOT NULL DEFAULT '',
    updated      INTEGER NOT NULL
);
CREATE INDEX deliveries_status ON deliveries (status, alert_id);
