package main

import (
	"fmt"

	"github.com/drainwatch/drainwatch/api"
	"strings"
	"time"
)

// boundEnv lists the settings that bound what hostile traffic can take
// (docs/bounds.md), with defaults that fit a 512 MB dyno, for the README,
// app.json and -h.
var boundEnv = []setting{
	{"HTTP_MAX_CONNS", "1024", "open HTTP connections at most; at the cap the one idle longest is closed"},
	{"HTTP_HEADER_TIMEOUT", "3s", "a request's headers must arrive within this"},
	{"HTTP_IDLE_TIMEOUT", "20s", "a keep-alive connection idle this long is closed"},
	{"SYSLOG_MAX_CONNS", "64", "open syslog connections at most; at the cap the one silent longest is closed"},
	{"SYSLOG_FIRST_BYTE_TIMEOUT", "5s", "a syslog connection that sent nothing this long is closed"},
	{"DRAIN_MEMORY_MB", "64", "memory the drain requests being read, parsed and stored may take at once (each reserves twice its body plus up to 1 MB for its parsed lines)"},
	{"QUERY_ROWS", "10000", "rows a list query (mem, errors, alerts, /api/…) answers unless asked for more"},
	{"QUERY_MAX_ROWS", "100000", "rows a list query may be asked for at most"},
	{"QUERY_MAX_GROUPS", "1000", "request groups (--top) and dynos (--limit) a query may be asked for at most"},
	{"DASHBOARD_MAX_CHARTS", "20", "dynos charted on the page, those with the highest memory; the others are summed up"},
	{"DRAIN_MEMORY_WAIT", "1s", "a drain request that finds that memory taken waits this long, then gets 503 (logplex retries)"},
	{"ROLLUP_MAX_PATHS", "1000", "distinct path templates per app and hour with request statistics of their own; the others are summed as (other paths)"},
	{"MAX_APPS", "100", "apps one daemon takes lines for; a new app beyond it is answered 200 with nothing stored"},
	{"ALERT_QUEUE_MB", "16", "memory the batches waiting for the alert engine may take; beyond it they are dropped (counted)"},
	{"ALERT_STATE_MB", "64", "memory the alert engine's series may take; beyond it the quietest dynos of the app with the most are forgotten"},
}

// boundSettings reads the bounds into cfg; a malformed value is an error
// naming the variable.
func boundSettings(getenv func(string) string, cfg *serveConfig) error {
	e := &settings{getenv: getenv, defs: boundEnv}
	dur := func(name string) time.Duration { return e.dur(name, "3s or 1m") }
	count := e.count
	cfg.MaxConns = count("HTTP_MAX_CONNS")
	cfg.Timeouts.Header = dur("HTTP_HEADER_TIMEOUT")
	cfg.Timeouts.Idle = dur("HTTP_IDLE_TIMEOUT")
	cfg.SyslogMaxConns = count("SYSLOG_MAX_CONNS")
	cfg.SyslogFirstByte = dur("SYSLOG_FIRST_BYTE_TIMEOUT")
	cfg.DrainMemory = int64(count("DRAIN_MEMORY_MB")) << 20
	cfg.DrainMemoryWait = dur("DRAIN_MEMORY_WAIT")
	cfg.Limits = api.Limits{Rows: count("QUERY_ROWS"), MaxRows: count("QUERY_MAX_ROWS"), MaxGroups: count("QUERY_MAX_GROUPS")}
	cfg.MaxCharts = count("DASHBOARD_MAX_CHARTS")
	cfg.MaxPaths = count("ROLLUP_MAX_PATHS")
	cfg.MaxApps = count("MAX_APPS")
	cfg.Alerts.QueueBytes = int64(count("ALERT_QUEUE_MB")) << 20
	cfg.Alerts.Rules.MaxBytes = int64(count("ALERT_STATE_MB")) << 20
	if len(e.errs) == 0 && cfg.Limits.Rows > cfg.Limits.MaxRows {
		e.errs = append(e.errs, fmt.Sprintf("QUERY_ROWS=%d is more than QUERY_MAX_ROWS=%d", cfg.Limits.Rows, cfg.Limits.MaxRows))
	}
	if len(e.errs) > 0 {
		return fmt.Errorf("bad settings: %s", strings.Join(e.errs, "; "))
	}
	return nil
}
