// Package store is drainwatch's history as its consumers see it: the
// values written and read, the errors callers test, and the contract a
// storage backend fulfils (Backend, with the conformance suite in
// store/storetest). It has no backend of its own and no cgo: the SQLite
// backend is store/sqlite.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/drainwatch/drainwatch/parser"
)

// Errors of Writer.Write that mean "try again later": the drain answers 503.
var (
	ErrQueueFull = errors.New("store: write queue full")
	ErrClosed    = errors.New("store: writer closed")
)

// Batch is the events of one drain request (or one chunk of an import),
// stored together in one transaction.
type Batch struct {
	App string
	// FrameID is the request's Logplex-Frame-Id. A batch whose (App, FrameID)
	// was stored before is a retry: it is acknowledged, not stored again.
	// Empty means no such check.
	FrameID string
	// Events are the parsed lines, as parser.Parse made them: the writer
	// keeps each line's time, app name, proc id and message, and the rows
	// are made from them again. Their byte fields are read only during
	// Write, so they may be views into a request body that Write outlives.
	Events []parser.Event
	// OnCommit, if set, is called once the batch is committed, whether or
	// not its Write is still waiting (its context may have ended), and
	// never for a duplicate. It runs on the writer goroutine before Write
	// can return, so the events are still valid; it must not block.
	OnCommit func(*Batch)
}

// Result says what Write did with a batch.
type Result struct {
	Stored    int  // lines stored
	Duplicate bool // the FrameID was stored before; nothing was stored
}

// Filter narrows a query. Zero values mean "any".
type Filter struct {
	App   string
	Dyno  string
	Since time.Time // inclusive
	Until time.Time // exclusive
	Limit int       // lists: the newest Limit rows (still oldest first); 0: no limit
}

// MemorySample is one runtime-metrics memory sample. Pointer fields are nil
// where the line did not say (no quota on old lines).
type MemorySample struct {
	Time    time.Time `json:"time"`
	App     string    `json:"app"`
	Dyno    string    `json:"dyno"`
	Boot    string    `json:"boot"`
	TotalMB *float64  `json:"memory_total_mb"`
	RSSMB   *float64  `json:"memory_rss_mb"`
	CacheMB *float64  `json:"memory_cache_mb"`
	SwapMB  *float64  `json:"memory_swap_mb"`
	PgpgIn  *int64    `json:"memory_pgpgin_pages"`
	PgpgOut *int64    `json:"memory_pgpgout_pages"`
	QuotaMB *float64  `json:"memory_quota_mb"`
}

// ErrorEvent is a memory error, platform error, router error or crash.
type ErrorEvent struct {
	Time    time.Time `json:"time"`
	App     string    `json:"app"`
	Dyno    string    `json:"dyno"`
	Code    string    `json:"code"`
	Message string    `json:"message"`
	MemMB   *float64  `json:"mem_mb,omitempty"`
	Percent *float64  `json:"percent,omitempty"`
	Dropped *int64    `json:"dropped,omitempty"`
}

// MinuteCount is how many requests a dyno served in one minute.
type MinuteCount struct {
	App  string
	Dyno string
	T    time.Time // the minute's start
	N    int
}

// PathMinuteCount is how many requests one dyno served for one path
// template in one minute.
type PathMinuteCount struct {
	App  string
	Dyno string
	Path string
	T    time.Time
	N    int
}

// RequestGroup is what the router lines of one group (a path template, a
// status, or a dyno) say.
type RequestGroup struct {
	Key        string           `json:"key"`
	Count      int64            `json:"count"`
	Errors     int64            `json:"errors"` // status >= 500 or an H-code
	ErrorRate  float64          `json:"error_rate"`
	ServiceP50 float64          `json:"service_p50_ms"`
	ServiceP95 float64          `json:"service_p95_ms"`
	ServiceP99 float64          `json:"service_p99_ms"`
	ConnectP50 float64          `json:"connect_p50_ms"`
	ConnectP95 float64          `json:"connect_p95_ms"`
	ConnectP99 float64          `json:"connect_p99_ms"`
	Bytes      int64            `json:"bytes"`
	Codes      map[string]int64 `json:"codes,omitempty"` // H12: 3, …
	First      time.Time        `json:"first"`
	Last       time.Time        `json:"last"`
	// Groups is, on the OtherGroups row, how many groups it sums.
	Groups int64 `json:"groups,omitempty"`
	// PercentilesSampled, when not 0, says the percentiles come from the
	// rollups of that share of the minutes (every Nth): the top groups held
	// more rollup rows than a query merges. Counts, errors and codes are
	// exact.
	PercentilesSampled float64 `json:"percentiles_sampled,omitempty"`
}

// OtherGroups is the key of the row that sums the groups beyond the top
// ones (RequestStats): their counts, errors and bytes, no percentiles; and
// the path of the paths beyond the top ones (RequestsPerMinuteTopPaths).
const OtherGroups = "(other)"

// SeriesPoint is one dyno's router traffic in one time bucket.
type SeriesPoint struct {
	Dyno       string    `json:"dyno"`
	T          time.Time `json:"time"` // bucket start
	Count      int64     `json:"count"`
	ServiceP95 float64   `json:"service_p95_ms"`
}

// LoadSample is one runtime-metrics load-average sample.
type LoadSample struct {
	Time   time.Time `json:"time"`
	App    string    `json:"app"`
	Dyno   string    `json:"dyno"`
	Boot   string    `json:"boot"`
	Avg1m  *float64  `json:"load_avg_1m"`
	Avg5m  *float64  `json:"load_avg_5m"`
	Avg15m *float64  `json:"load_avg_15m"`
}

// BootSummary is one dyno boot seen in the memory samples.
type BootSummary struct {
	Boot    string    `json:"boot"`
	First   time.Time `json:"first_seen"`
	Last    time.Time `json:"last_seen"`
	Samples int64     `json:"samples"`
	PeakMB  float64   `json:"peak_mb"`
}

// DynoSummary is what is known of one dyno.
type DynoSummary struct {
	App         string        `json:"app"`
	Dyno        string        `json:"dyno"`
	First       time.Time     `json:"first_seen"`
	Last        time.Time     `json:"last_seen"`
	LastMB      *float64      `json:"last_memory_mb"`
	LastQuotaMB *float64      `json:"last_quota_mb"`
	Restarts    int           `json:"restarts"` // boots seen, less one
	Errors      int64         `json:"memory_errors"`
	Boots       []BootSummary `json:"boots"`
	PeakMB      *float64      `json:"peak_mb,omitempty"` // the highest total in range
	// Dynos is, on an app's OtherDynos row, how many dynos it sums.
	Dynos int `json:"dynos,omitempty"`
	// NoMemorySamples marks a dyno seen only in error lines (R14s, H-codes,
	// crashes) in range: its runtime metrics are off. First and Last are
	// its first and last error; it has no boots and no memory.
	NoMemorySamples bool `json:"no_memory_samples,omitempty"`
}

// ShortBoot is the first 8 characters of a boot id, as tables and charts
// show it.
func ShortBoot(boot string) string {
	if len(boot) > 8 {
		return boot[:8]
	}
	return boot
}

// OtherDynos is the Dyno of the row that sums an app's dynos beyond the
// ones listed (Filter.Limit in Dynos): how many, when first and last seen,
// their peak memory, their R14/R15 count.
const OtherDynos = "(other)"

// AppSummary is an app with memory samples, and its newest sample's time.
type AppSummary struct {
	App  string
	Last time.Time
}

// AlertRecord is an alert as stored: the columns queries filter on, and the
// whole alert as JSON (Details), which the alerts package owns.
type AlertRecord struct {
	ID      int64
	App     string
	Dyno    string
	Rule    string
	State   string
	Time    time.Time // log time
	Summary string
	Details string // JSON
	Created time.Time
}

// Delivery is an alert waiting to be delivered.
type Delivery struct {
	Alert       AlertRecord
	Attempts    int
	NextAttempt time.Time
	LastError   string
}

// Delivery outcomes.
const (
	DeliverySent   = "sent"
	DeliveryFailed = "failed" // given up
	DeliveryRetry  = "pending"
)

// Retention says how long each kind of history is kept, counted back from
// now (log time). Zero durations take the defaults.
type Retention struct {
	History time.Duration // memory and load samples, errors, events, alerts, hour rollups; default 30 days
	Minutes time.Duration // minute rollups (edges of range queries, at-rest analysis); default 2 days
	Logs    time.Duration // the app's own lines and l2met samples; default 7 days
	Raw     time.Duration // raw router rows (a writer option); default 1 hour
	Off     bool          // keep everything (imports of old history)
}

// WithDefaults fills in the default of each zero duration.
func (r Retention) WithDefaults() Retention {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&r.History, 30*24*time.Hour)
	def(&r.Minutes, 48*time.Hour)
	def(&r.Logs, 7*24*time.Hour)
	def(&r.Raw, time.Hour)
	return r
}

// RetentionTarget is one kind of row retention deletes: the rows of Table
// whose TimeCol (Unix microseconds) is older than Age and that match Where
// (an SQL condition every backend takes, or "").
type RetentionTarget struct {
	Table, TimeCol, Where string
	Age                   time.Duration
}

// Targets are what retention r deletes, in the order to delete it; r's
// zero durations take their defaults.
func (r Retention) Targets() []RetentionTarget {
	r = r.WithDefaults()
	return []RetentionTarget{
		{"memory", "time", "", r.History},
		{"load", "time", "", r.History},
		{"errors", "time", "", r.History},
		{"events", "time", "", r.History},
		{"alerts", "time", "id NOT IN (SELECT alert_id FROM deliveries WHERE status = 'pending')", r.History},
		{"request_rollups", "start", "res = 3600", r.History},
		{"request_rollups", "start", "res = 60 AND folded = TRUE", r.Minutes},
		{"request_rollups", "start", "res = 60", r.History}, // never folded: past all history anyway
		{"logs", "time", "", r.Logs},
		{"app_logs", "last", "", r.Logs},
		{"samples", "time", "", r.Logs},
		{"requests", "time", "", r.Raw},
	}
}

// Writer stores batches. Write returns once the batch is durable (what an
// acknowledgement promises); a batch whose (App, FrameID) was stored
// before is acknowledged as a duplicate and stored once. The lines of a
// stored batch are readable by every query after Flush, and within a
// bounded lag without it. Concurrent writers on one database — two Writers,
// two processes — each keep every line they acknowledge: rollups add up.
type Writer interface {
	BatchWriter
	Flush(ctx context.Context) error
	Close() error
}

// BatchWriter stores a batch and returns once it is durable: all that the
// drain and the importer need of a Writer.
type BatchWriter interface {
	Write(ctx context.Context, b *Batch) (Result, error)
}

// Queries are the reads the CLI, the API, the dashboard and the alert
// engine make. Lists come oldest first.
type Queries interface {
	Memory(ctx context.Context, f Filter) ([]MemorySample, error)
	MemoryBuckets(ctx context.Context, f Filter, step time.Duration) ([]MemorySample, error)
	Load(ctx context.Context, f Filter) ([]LoadSample, error)
	Errors(ctx context.Context, f Filter, codes ...string) ([]ErrorEvent, error)
	// EachMemory is Memory one sample at a time, none held.
	EachMemory(ctx context.Context, f Filter, fn func(*MemorySample) error) error
	// Apps lists the apps with memory samples, by name.
	Apps(ctx context.Context) ([]AppSummary, error)
	// Dynos summarises each dyno; with f.Limit, the f.Limit dynos with the
	// highest memory (chosen in SQL) and per app with more one OtherDynos
	// row after its dynos.
	Dynos(ctx context.Context, f Filter) ([]DynoSummary, error)
	// RequestStats returns the top groups (all when top is 0), then, when
	// there are more, one OtherGroups row summing the rest.
	RequestStats(ctx context.Context, f Filter, by string, top int) ([]RequestGroup, error)
	RequestSeries(ctx context.Context, f Filter, step time.Duration) ([]SeriesPoint, error)
	RequestsPerMinute(ctx context.Context, f Filter) ([]MinuteCount, error)
	RequestsPerMinuteByPath(ctx context.Context, f Filter) ([]PathMinuteCount, error)
	// RequestsPerMinuteTopPaths is RequestsPerMinuteByPath for the top
	// paths, the others per dyno and minute as OtherGroups, and how many
	// paths there were in all.
	RequestsPerMinuteTopPaths(ctx context.Context, f Filter, top int) ([]PathMinuteCount, int, error)
	// Counts says how many rows each kind of history holds, and
	// "router_lines" and "app_lines": how many of those lines are kept.
	Counts(ctx context.Context) (map[string]int64, error)
}

// Alerts are the alert log and its delivery queue.
type Alerts interface {
	InsertAlert(ctx context.Context, a AlertRecord, deliver bool) (int64, error)
	Alerts(ctx context.Context, f Filter) ([]AlertRecord, error)
	OpenAlerts(ctx context.Context) ([]AlertRecord, error)
	PendingDeliveries(ctx context.Context, limit int) ([]Delivery, error)
	UpdateDelivery(ctx context.Context, alertID int64, status string, attempts int, next time.Time, lastErr string, now time.Time) error
	DeliveryStatus(ctx context.Context, alertID int64) (status string, attempts int, lastErr string, err error)
}

// DB is an open database, as a backend gives it.
type DB interface {
	Queries
	Alerts
	Close() error
}
