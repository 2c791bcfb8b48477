package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/pending"
	"github.com/drainwatch/drainwatch/store/rollup"
)

// WriterOptions tune a Writer.
type WriterOptions struct {
	// QueueLen is how many Writes may be in flight at once; a Write beyond
	// it waits for a place until its context ends, then fails with
	// ErrQueueFull. Default: twice the pool's connections.
	QueueLen int
	// Now gives the time of receipt; default time.Now.
	Now func() time.Time
	// RawRequests also stores every router line as a row (table requests).
	RawRequests bool
	// FlushEvery is how often the batches acknowledged (by any process on
	// the database) are stored as rows. Default 1s.
	FlushEvery time.Duration
	// Logger gets a line when storing batches fails.
	Logger *slog.Logger
	// NoAlerts keeps this writer's batches from the alert evaluator (an
	// import of old history, unless asked).
	NoAlerts bool
	// Folder, if set, bounds the path templates of the rollups per app
	// and hour (pending.Folder); nil gives every template its rows.
	Folder *pending.Folder

	// crash, in tests, makes Close leave the pending rows as a crash would.
	crash bool
}

// Writer writes batches. Each Write is one statement — frame id, pending
// row, app lines — committed before it returns, so concurrent Writes from
// any number of processes commit side by side and the server groups their
// WAL flushes. The roller then stores the batches' rows.
type Writer struct {
	db    *DB
	opts  WriterOptions
	slots chan struct{}
	roll  *roller

	mu     sync.RWMutex
	closed bool
}

// NewWriter starts a writer and its roller; it first stores what was left
// pending (a crash's, another process's). Stop it with Close.
func NewWriter(db *DB, opts WriterOptions) (*Writer, error) {
	if db.readOnly {
		return nil, errors.New("store: database is read-only")
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = 2 * int(db.pool.Config().MaxConns)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = time.Second
	}
	r := &roller{db: db, log: opts.Logger, every: opts.FlushEvery, now: opts.Now, stop: make(chan struct{}), done: make(chan struct{}), crash: opts.crash}
	if err := r.flush(context.Background()); err != nil {
		return nil, err
	}
	w := &Writer{db: db, opts: opts, slots: make(chan struct{}, opts.QueueLen), roll: r}
	go r.run()
	db.mu.Lock()
	db.flusher = w.Flush
	db.mu.Unlock()
	return w, nil
}

// writeTimeout bounds one Write's statement: it runs to its end even when
// the caller's context ends first, so that OnCommit is called for what is
// committed.
const writeTimeout = 30 * time.Second

// Write commits b and returns once the commit is durable (the server's
// synchronous_commit). It fails with ErrQueueFull when ctx ends while it
// waits for a place, with ErrClosed once Close has begun.
func (w *Writer) Write(ctx context.Context, b *store.Batch) (store.Result, error) {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return store.Result{}, store.ErrClosed
	}
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		w.mu.RUnlock()
		return store.Result{}, store.ErrQueueFull
	}
	defer func() { <-w.slots; w.mu.RUnlock() }()
	p := pending.Encode(b.App, b.Events, w.opts.Folder)
	now := w.opts.Now()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	var stored bool
	var err error
	if w.opts.RawRequests {
		stored, err = w.writeTx(sctx, b, &p, now)
	} else {
		stored, err = w.writeOne(sctx, b, &p, now)
	}
	if err != nil {
		return store.Result{}, fmt.Errorf("store: %w", err)
	}
	if !stored {
		return store.Result{Duplicate: true}, ctx.Err()
	}
	if b.OnCommit != nil {
		b.OnCommit(b)
	}
	return store.Result{Stored: len(b.Events)}, ctx.Err()
}

// batchSQL is the statement of one batch: its frame id (with one, it goes
// first and the rest only if it was new), its pending row, its app lines.
func batchSQL(frameID bool) string {
	f := `WITH f AS (SELECT 1 AS new),`
	if frameID {
		f = `WITH f AS (INSERT INTO frames (app, frame_id, received, lines) VALUES ($1::text, $11::text, $12::bigint, $13::bigint) ON CONFLICT DO NOTHING RETURNING 1 AS new),`
	}
	return f + `
	p AS (INSERT INTO pending_batches (app, lines, router, rest, alerts) SELECT $1::text, $2::bigint, $3::bytea, $4::bytea, $10::boolean
		FROM f WHERE $2::bigint > 0 OR $4::bytea IS NOT NULL),
	l AS (INSERT INTO app_logs (app, first, last, lines, body) SELECT $1::text, $5::bigint, $6::bigint, $7::bigint, $8::text FROM f WHERE $9::boolean)
	SELECT COUNT(*) FROM f`
}

var (
	batchWithFrame = batchSQL(true)
	batchNoFrame   = batchSQL(false)
)

func batchArgs(b *store.Batch, p *pending.Batch, now time.Time, alerts bool) []any {
	args := []any{b.App, int64(p.Lines), nilIfEmpty(p.Router), nilIfEmpty(p.Rest), p.LogsFirst, p.LogsLast, int64(p.LogsLines), string(p.Logs), p.LogsLines > 0}
	args = append(args, alerts)
	if b.FrameID != "" {
		args = append(args, b.FrameID, now.UnixMicro(), int64(len(b.Events)))
	}
	return args
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func (w *Writer) writeOne(ctx context.Context, b *store.Batch, p *pending.Batch, now time.Time) (bool, error) {
	q := batchNoFrame
	if b.FrameID != "" {
		q = batchWithFrame
	}
	var n int
	if err := w.db.pool.QueryRow(ctx, q, batchArgs(b, p, now, !w.opts.NoAlerts)...).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// writeTx is writeOne with the router lines as rows too (RawRequests).
func (w *Writer) writeTx(ctx context.Context, b *store.Batch, p *pending.Batch, now time.Time) (bool, error) {
	tx, err := w.db.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx)
	q := batchNoFrame
	if b.FrameID != "" {
		q = batchWithFrame
	}
	var n int
	if err := tx.QueryRow(ctx, q, batchArgs(b, p, now, !w.opts.NoAlerts)...).Scan(&n); err != nil {
		return false, err
	}
	if n == 0 {
		return false, nil
	}
	var t tables
	for i := range b.Events {
		if ev := &b.Events[i]; ev.Kind == parser.KindRouter {
			t.rawRequest(b.App, ev)
		}
	}
	if err := t.copy(ctx, tx); err != nil {
		return false, err
	}
	return true, tx.Commit(ctx)
}

// Flush stores every batch acknowledged so far, by any process, as rows.
// The queries of db call it first.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return store.ErrClosed
	}
	return w.roll.flush(ctx)
}

// Close waits for the Writes in flight, stores what is pending, and stops
// the roller.
func (w *Writer) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.roll.stopOnce.Do(func() { close(w.roll.stop) })
	<-w.roll.done
	w.db.mu.Lock()
	w.db.flusher = nil
	w.db.mu.Unlock()
	return nil
}

// roller stores pending batches as rows: it takes the oldest pending rows
// not taken by another process's roller (FOR UPDATE SKIP LOCKED), rolls
// their router lines up into per-minute deltas, and in one transaction
// merges the deltas into the rollups, copies the other lines into their
// tables, hands the batches to the alert evaluator (alert_feed) and
// deletes them. Each pending row is stored once, by whichever process
// takes it.
type roller struct {
	db       *DB
	log      *slog.Logger
	every    time.Duration
	now      func() time.Time
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	crash    bool

	begun   atomic.Int64
	mu      sync.Mutex // one flush at a time in this process
	lastErr error
	evs     []parser.Event
}

// pendingChunk is how many pending rows one transaction stores at most.
const pendingChunk = 512

func (r *roller) run() {
	defer close(r.done)
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			if !r.crash {
				r.logError("storing batches", r.flush(context.Background()))
			}
			return
		case <-t.C:
			r.logError("storing batches", r.flushSkip(context.Background()))
		}
	}
}

// flushSkip stores the pending rows no other roller holds.
func (r *roller) flushSkip(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		n, err := r.chunk(ctx, 0, true)
		if err != nil || n < pendingChunk {
			return err
		}
	}
}

// flush stores every pending row committed before it was called, waiting
// for the ones another roller holds. Concurrent calls share a flush that
// began after them.
func (r *roller) flush(ctx context.Context) error {
	called := r.begun.Load()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.begun.Load() > called {
		return r.lastErr
	}
	r.begun.Add(1)
	r.lastErr = r.flushAll(ctx)
	return r.lastErr
}

func (r *roller) flushAll(ctx context.Context) error {
	var target int64
	if err := r.db.pool.QueryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM pending_batches`).Scan(&target); err != nil {
		return fmt.Errorf("store: pending rows: %w", err)
	}
	if target == 0 {
		return nil
	}
	for {
		n, err := r.chunk(ctx, target, false)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// chunk stores up to pendingChunk pending rows (with id <= upTo, when not
// 0) in one transaction and says how many. skip leaves the rows another
// roller holds; otherwise it waits for them (and then finds them gone).
func (r *roller) chunk(ctx context.Context, upTo int64, skip bool) (int, error) {
	for attempt := 0; ; attempt++ {
		n, err := r.chunkTx(ctx, upTo, skip)
		if err != nil && retryable(err) && attempt < 5 {
			continue
		}
		return n, err
	}
}

func (r *roller) chunkTx(ctx context.Context, upTo int64, skip bool) (int, error) {
	tx, err := r.db.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	lock := "FOR UPDATE"
	if skip {
		lock += " SKIP LOCKED"
	}
	if upTo == 0 {
		upTo = math.MaxInt64
	}
	rows, err := tx.Query(ctx, `SELECT id, app, router, rest FROM pending_batches WHERE id <= $1 ORDER BY id LIMIT $2 `+lock, upTo, pendingChunk)
	if err != nil {
		return 0, fmt.Errorf("store: pending rows: %w", err)
	}
	deltas := map[rollup.Key]*rollup.Acc{}
	var ids []int64
	var t tables
	for rows.Next() {
		var id int64
		var app string
		var router, rest []byte
		if err := rows.Scan(&id, &app, &router, &rest); err != nil {
			rows.Close()
			return 0, fmt.Errorf("store: pending rows: %w", err)
		}
		ids = append(ids, id)
		if err := rollIn(deltas, app, router); err != nil {
			r.logError("rollup", fmt.Errorf("pending row %d: router lines skipped: %w", id, err))
		}
		if rest != nil {
			r.evs, err = pending.DecodeRest(rest, r.evs)
			if err != nil {
				r.logError("pending batch", fmt.Errorf("batch %d: lines other than router lines skipped: %w", id, err))
				continue
			}
			for i := range r.evs {
				t.insert(app, &r.evs[i])
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store: pending rows: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if err := mergeRollups(ctx, tx, deltas); err != nil {
		return 0, fmt.Errorf("store: rollups: %w", err)
	}
	if err := t.copy(ctx, tx); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO alert_feed (app, created, router, rest)
		SELECT app, $2, router, rest FROM pending_batches WHERE id = ANY($1) AND alerts ORDER BY id`, ids, r.now().UnixMicro()); err != nil {
		return 0, fmt.Errorf("store: alert feed: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM pending_batches WHERE id = ANY($1)`, ids); err != nil {
		return 0, fmt.Errorf("store: pending batches: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("store: storing batches: commit: %w", err)
	}
	return len(ids), nil
}

// rollIn adds the router section of a batch of app to deltas.
func rollIn(deltas map[rollup.Key]*rollup.Acc, app string, router []byte) error {
	if router == nil {
		return nil
	}
	type rowKey struct {
		start, dyno, path uint64
		status            int
	}
	rows := map[rowKey]*rollup.Acc{}
	return pending.DecodeRouter(router, func(l *pending.RouterLine) error {
		k := rowKey{uint64(l.Unix - l.Unix%60), l.DynoIdx, l.PathIdx, rollup.StatusClassIndex(int(l.Status))}
		a := rows[k]
		if a == nil {
			rk := rollup.KeyOf(app, l)
			if a = deltas[rk]; a == nil {
				a = rollup.NewAcc()
				deltas[rk] = a
			}
			rows[k] = a
		}
		a.Add(l)
		return nil
	})
}

func (r *roller) logError(what string, err error) {
	if err != nil && r.log != nil {
		r.log.Error(what, "error", err.Error())
	}
}

// tables are rows to COPY, per table.
type tables struct {
	memory, load, requests, errors, events, samples, logs [][]any
}

var tableColumns = map[string][]string{
	"memory":   {"app", "time", "dyno", "boot", "total_mb", "rss_mb", "cache_mb", "swap_mb", "pgpgin", "pgpgout", "quota_mb"},
	"load":     {"app", "time", "dyno", "boot", "avg1m", "avg5m", "avg15m"},
	"requests": {"app", "time", "dyno", "at", "code", "method", "path", "host", "request_id", "fwd", "connect_ms", "service_ms", "status", "bytes", "protocol"},
	"errors":   {"app", "time", "dyno", "code", "message", "mem_mb", "percent", "dropped"},
	"events":   {"app", "time", "dyno", "kind", "action", "detail", "status", "message"},
	"samples":  {"app", "time", "source", "type", "name", "value", "unit", "text"},
	"logs":     {"app", "time", "app_name", "proc", "message"},
}

func (t *tables) copy(ctx context.Context, tx pgx.Tx) error {
	for _, x := range []struct {
		name string
		rows [][]any
	}{{"memory", t.memory}, {"load", t.load}, {"requests", t.requests}, {"errors", t.errors}, {"events", t.events}, {"samples", t.samples}, {"logs", t.logs}} {
		if len(x.rows) == 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{x.name}, tableColumns[x.name], pgx.CopyFromRows(x.rows)); err != nil {
			return fmt.Errorf("store: insert %s rows: %w", x.name, err)
		}
	}
	return nil
}

// nullInt is NULL for the parser's -1 ("empty").
func nullInt(n int64) any {
	if n < 0 {
		return nil
	}
	return n
}

// nullFloat is NULL for NaN and infinities.
func nullFloat(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}

// nullNeg is NULL where the parser says -1 for "absent".
func nullNeg(f float64) any {
	if f < 0 {
		return nil
	}
	return nullFloat(f)
}

func (t *tables) rawRequest(app string, ev *parser.Event) {
	r := &ev.Router
	t.requests = append(t.requests, []any{app, ev.Time.UnixMicro(), string(ev.Dyno), string(r.At), string(r.Code), string(r.Method), string(r.Path),
		string(r.Host), string(r.RequestID), string(r.Fwd), nullInt(r.ConnectMS), nullInt(r.ServiceMS), nullInt(int64(r.Status)),
		nullInt(r.Bytes), string(r.Protocol)})
}

// insert adds the row of a line other than an app line (those are in
// app_logs, a row a batch), as store/sqlite's writer does. A router line
// is a row only when it has an H-code: an errors row.
func (t *tables) insert(app string, ev *parser.Event) {
	tm := ev.Time.UnixMicro()
	dyno := string(ev.Dyno)
	errRow := func(code, msg string, mem, pct, dropped any) {
		t.errors = append(t.errors, []any{app, tm, dyno, code, msg, mem, pct, dropped})
	}
	event := func(kind, action, detail string, status any) {
		t.events = append(t.events, []any{app, tm, dyno, kind, action, detail, status, string(ev.Message)})
	}
	logRow := func() {
		t.logs = append(t.logs, []any{app, tm, string(ev.AppName), string(ev.ProcID), string(ev.Message)})
	}
	switch ev.Kind {
	case parser.KindRouter:
		if r := &ev.Router; len(r.Code) > 0 {
			errRow(string(r.Code), string(ev.Message), nil, nil, nil)
		}
	case parser.KindMemory:
		m := &ev.Memory
		t.memory = append(t.memory, []any{app, tm, dyno, string(m.Boot), nullFloat(m.TotalMB), nullFloat(m.RSSMB), nullFloat(m.CacheMB),
			nullFloat(m.SwapMB), nullInt(m.PgpgIn), nullInt(m.PgpgOut), nullNeg(m.QuotaMB)})
	case parser.KindLoad:
		l := &ev.Load
		t.load = append(t.load, []any{app, tm, dyno, string(l.Boot), nullNeg(l.Avg1m), nullNeg(l.Avg5m), nullNeg(l.Avg15m)})
	case parser.KindError:
		errRow(string(ev.Error.Code), string(ev.Message), nil, nil, nullInt(ev.Error.Dropped))
	case parser.KindMemReport:
		errRow("mem", string(ev.Message), nullFloat(ev.MemReport.MB), nullFloat(ev.MemReport.Percent), nil)
	case parser.KindLifecycle:
		l := &ev.Lifecycle
		detail := ""
		switch l.Action {
		case parser.ActionState:
			detail = string(l.From) + " -> " + string(l.To)
		case parser.ActionStarting:
			detail = string(l.Command)
		}
		event("lifecycle", l.Action.String(), detail, nullInt(int64(l.Status)))
		if l.Crashed() {
			errRow("crash", string(ev.Message), nil, nil, nil)
		}
	case parser.KindRelease:
		event("release", fmt.Sprintf("v%d", ev.Release.Version), string(ev.Release.By), nil)
	case parser.KindScale:
		event("scale", "scale", string(ev.Scale.Formation), nil)
	case parser.KindAddon:
		t.samples2(app, tm, ev)
	case parser.KindApp:
		logRow()
		t.samples2(app, tm, ev)
	default:
		logRow()
	}
}

func (t *tables) samples2(app string, tm int64, ev *parser.Event) {
	for i := range ev.Samples {
		sm := &ev.Samples[i]
		src := sm.Source
		if len(src) == 0 {
			src = ev.Dyno
		}
		t.samples = append(t.samples, []any{app, tm, string(src), sm.Type.String(), string(sm.Name), nullFloat(sm.Value), string(sm.Unit), string(sm.Text)})
	}
}
