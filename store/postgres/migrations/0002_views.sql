-- Readable views for `heroku pg:psql`: the times as timestamps.
CREATE VIEW memory_at AS SELECT to_timestamp(time / 1e6) AS at, * FROM memory;
CREATE VIEW errors_at AS SELECT to_timestamp(time / 1e6) AS at, * FROM errors;
CREATE VIEW events_at AS SELECT to_timestamp(time / 1e6) AS at, * FROM events;
CREATE VIEW alerts_at AS SELECT to_timestamp(time / 1e6) AS at, * FROM alerts;
CREATE VIEW requests_per_minute AS
    SELECT app, to_timestamp(start / 1e6) AS minute, dyno, path, class, count, errors, bytes, codes
    FROM request_rollups WHERE res = 60;
