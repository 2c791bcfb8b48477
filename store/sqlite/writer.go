package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store/pending"

	"github.com/drainwatch/drainwatch/store"
)

// WriterOptions tune a Writer.
type WriterOptions struct {
	// QueueLen is how many batches may wait for the writer; a Write beyond it
	// waits for a place (backpressure) until its context ends, then fails with
	// ErrQueueFull. Default 64.
	QueueLen int
	// MaxRows is how many lines one transaction takes at most. Default 20000.
	MaxRows int
	// FrameIDAge is how long Logplex-Frame-Ids are remembered. Default 24h.
	FrameIDAge time.Duration
	// Now gives the time of receipt; default time.Now.
	Now func() time.Time
	// RawRequests also stores every router line as a row (table requests),
	// besides the per-minute and per-hour rollups that queries use.
	RawRequests bool
	// Retention bounds the history; the writer deletes what is older, a
	// few thousand rows at a time between batches.
	Retention store.Retention
	// FlushEvery is how often the batches committed since the last flush
	// are stored as rows (rollups, memory samples, errors, app lines, …).
	// They are durable from their commit; queries in this process flush
	// first, and other processes reading the file see them after the
	// flush. Default 1s.
	FlushEvery time.Duration
	// Logger gets a line when retention deletes rows or fails.
	Logger *slog.Logger
	// Folder, if set, bounds the path templates of the rollups per app
	// and hour (pending.Folder); nil gives every template its rows.
	Folder *pending.Folder

	// crash, in tests, makes Close leave the pending rows as a crash would.
	crash bool
}

// Writer writes batches to the database. Concurrent Writes are grouped
// into one transaction (group commit) by one goroutine, and a Write returns
// once its batch's commit is on disk (synchronous=FULL). The roller (roller.go)
// then stores the batch's lines as the rows queries read.
type Writer struct {
	db      *DB
	opts    WriterOptions
	queue   chan *request
	mu      sync.RWMutex // guards closed against sends on a closed queue
	closing chan struct{}
	done    chan struct{}

	closed bool
	stmts  *statements

	roll *roller
	file os.FileInfo // the database file as opened
}

type request struct {
	b    *store.Batch
	pend pending.Batch
	res  store.Result
	err  error
	done chan struct{}
}

// NewWriter starts the writer goroutine. Stop it with Close.
func NewWriter(db *DB, opts WriterOptions) (*Writer, error) {
	if db.rw == nil {
		return nil, errors.New("store: database is read-only")
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = 64
	}
	if opts.MaxRows <= 0 {
		opts.MaxRows = 20000
	}
	if opts.FrameIDAge <= 0 {
		opts.FrameIDAge = 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = time.Second
	}
	st, err := prepare(db.rw)
	if err != nil {
		return nil, err
	}
	roll, err := newRoller(db, opts.FlushEvery, opts.Logger)
	if err != nil {
		st.close()
		return nil, err
	}
	roll.crash = opts.crash
	file, err := os.Stat(db.path)
	if err != nil {
		st.close()
		roll.close()
		return nil, fmt.Errorf("store: %w", err)
	}
	w := &Writer{db: db, opts: opts, queue: make(chan *request, opts.QueueLen), closing: make(chan struct{}), done: make(chan struct{}),
		stmts: st, roll: roll, file: file}
	go roll.run()
	go w.run()
	db.mu.Lock()
	db.flusher = w.Flush
	db.mu.Unlock()
	return w, nil
}

// Write commits b and returns once the commit is on disk. When the writer
// is behind it waits for a place in the queue; if ctx ends first it fails
// with ErrQueueFull. It fails with ErrClosed once Close has begun. If ctx
// ends while the batch is queued, Write returns ctx.Err(); the batch may
// still be committed (a retry with the same FrameID is then recognised).
func (w *Writer) Write(ctx context.Context, b *store.Batch) (store.Result, error) {
	r := &request{b: b, done: make(chan struct{}), pend: pending.Encode(b.App, b.Events, w.opts.Folder)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return store.Result{}, store.ErrClosed
	}
	select {
	case w.queue <- r:
	case <-ctx.Done():
		w.mu.RUnlock()
		return store.Result{}, store.ErrQueueFull
	case <-w.closing:
		w.mu.RUnlock()
		return store.Result{}, store.ErrClosed
	}
	w.mu.RUnlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		return store.Result{}, ctx.Err()
	}
	if r.err != nil {
		return store.Result{}, r.err
	}
	return r.res, nil
}

// Flush stores every batch committed so far as rows now, rather than
// within FlushEvery. The queries of db call it first, so they see every
// line acknowledged before them. It does not wait behind the batches
// queued for the writer.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return store.ErrClosed
	}
	return w.roll.flush()
}

// Close stops taking batches, commits every batch already queued, and stops
// the writer goroutine.
func (w *Writer) Close() error {
	select {
	case <-w.closing:
	default:
		close(w.closing) // releases Writes waiting for a place
	}
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
	w.roll.stopOnce.Do(func() { close(w.roll.stop) }) // the roller flushes once more and stops
	<-w.roll.done
	w.db.mu.Lock()
	w.db.flusher = nil
	w.db.mu.Unlock()
	return errors.Join(w.stmts.close(), w.roll.close())
}

func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	pruneDue := false // the first pass comes with the first tick
	reqs := make([]*request, 0, w.opts.QueueLen)
	for {
		var r *request
		select {
		case <-tick.C:
			pruneDue = w.maintain(w.opts.Now())
			continue
		case req, ok := <-w.queue:
			if !ok {
				return
			}
			r = req
		}
		reqs = append(reqs[:0], r)
		rows := len(r.b.Events)
	more:
		for rows < w.opts.MaxRows {
			select {
			case r2, ok := <-w.queue:
				if !ok {
					break more
				}
				reqs = append(reqs, r2)
				rows += len(r2.b.Events)
			default:
				break more
			}
		}
		now := w.opts.Now()
		err := w.commit(reqs, now)
		if err == nil {
			err = w.fileGone()
		}
		if err != nil {
			for _, r := range reqs {
				r.res, r.err = store.Result{}, err
				close(r.done)
			}
		} else {
			for _, r := range reqs {
				if r.b.OnCommit != nil && !r.res.Duplicate {
					r.b.OnCommit(r.b)
				}
				close(r.done)
			}
		}
		if pruneDue && len(w.queue) == 0 {
			pruneDue = w.maintain(now)
		}
	}
}

// fileGone is an error when the database file is no longer the one open:
// deleted or replaced under the writer. What was just committed went to a
// file the next start will not see, so it is not acknowledged.
func (w *Writer) fileGone() error {
	if fi, err := os.Stat(w.db.path); err != nil || !os.SameFile(fi, w.file) {
		return fmt.Errorf("store: the database file %s was deleted or replaced", w.db.path)
	}
	return nil
}

// maintain runs a bounded slice of retention work and reports whether more
// is left.
func (w *Writer) maintain(now time.Time) bool {
	w.pruneFrameIDs(now)
	if w.opts.Retention.Off {
		return false
	}
	n, done, err := w.db.prune(context.Background(), w.opts.Retention, now, 10)
	if err != nil && w.opts.Logger != nil {
		w.opts.Logger.Error("retention", "error", err.Error())
	}
	if n > 0 && w.opts.Logger != nil {
		w.opts.Logger.Info("retention deleted old history", "rows", n, "more", !done)
	}
	return !done && err == nil
}

func (w *Writer) pruneFrameIDs(now time.Time) {
	// Small chunks, so ingest never waits long behind the delete.
	cutoff := now.Add(-w.opts.FrameIDAge).UnixMicro()
	for i := 0; i < 100; i++ {
		res, err := w.db.rw.Exec(`DELETE FROM frames WHERE rowid IN (SELECT rowid FROM frames WHERE received < ? LIMIT 1000)`, cutoff)
		if err != nil {
			return
		}
		if n, _ := res.RowsAffected(); n < 1000 {
			return
		}
	}
}

func (w *Writer) commit(reqs []*request, now time.Time) (err error) {
	tx, err := w.db.rw.Begin()
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	// Only the statements a commit uses: the other lines' rows are the roller's.
	s := &statements{frame: tx.Stmt(w.stmts.frame), request: tx.Stmt(w.stmts.request), appLogs: tx.Stmt(w.stmts.appLogs),
		pending: tx.Stmt(w.stmts.pending)}
	defer s.close()
	for _, r := range reqs {
		b := r.b
		if b.FrameID != "" {
			res, err := s.frame.Exec(b.App, b.FrameID, now.UnixMicro(), len(b.Events))
			if err != nil {
				return fmt.Errorf("store: frame id: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				r.res = store.Result{Duplicate: true}
				continue
			}
		}
		if w.opts.RawRequests {
			for i := range b.Events {
				if ev := &b.Events[i]; ev.Kind == parser.KindRouter {
					if err := s.rawRequest(b.App, ev); err != nil {
						return fmt.Errorf("store: insert router line: %w", err)
					}
				}
			}
		}
		p := r.pend
		if p.LogsLines > 0 {
			// Already in its final form: stored now, not copied by the roller.
			if _, err := s.appLogs.Exec(b.App, p.LogsFirst, p.LogsLast, p.LogsLines, text(p.Logs)); err != nil {
				return fmt.Errorf("store: app lines: %w", err)
			}
		}
		if p.Lines > 0 || len(p.Rest) > 0 {
			if _, err := s.pending.Exec(b.App, p.Lines, p.Router, p.Rest); err != nil {
				return fmt.Errorf("store: batch: %w", err)
			}
		}
		r.res = store.Result{Stored: len(b.Events)}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// statements are the writer's prepared inserts.
type statements struct {
	frame, memory, load, request, errorRow, event, sample, log, appLogs, pending *sql.Stmt
}

func prepare(db *sql.DB) (*statements, error) {
	var s statements
	var err error
	p := func(dst **sql.Stmt, q string) {
		if err == nil {
			*dst, err = db.Prepare(q)
		}
	}
	p(&s.frame, `INSERT OR IGNORE INTO frames (app, frame_id, received, lines) VALUES (?, ?, ?, ?)`)
	p(&s.memory, `INSERT INTO memory (app, time, dyno, boot, total_mb, rss_mb, cache_mb, swap_mb, pgpgin, pgpgout, quota_mb) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	p(&s.load, `INSERT INTO load (app, time, dyno, boot, avg1m, avg5m, avg15m) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	p(&s.request, `INSERT INTO requests (app, time, dyno, at, code, method, path, host, request_id, fwd, connect_ms, service_ms, status, bytes, protocol) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	p(&s.errorRow, `INSERT INTO errors (app, time, dyno, code, message, mem_mb, percent, dropped) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	p(&s.event, `INSERT INTO events (app, time, dyno, kind, action, detail, status, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	p(&s.sample, `INSERT INTO samples (app, time, source, type, name, value, unit, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	p(&s.log, `INSERT INTO logs (app, time, app_name, proc, message) VALUES (?, ?, ?, ?, ?)`)
	p(&s.appLogs, `INSERT INTO app_logs (app, first, last, lines, body) VALUES (?, ?, ?, ?, ?)`)
	p(&s.pending, `INSERT INTO pending_batches (app, lines, router, rest) VALUES (?, ?, ?, ?)`)

	if err != nil {
		s.close()
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	return &s, nil
}

func (s *statements) all() []*sql.Stmt {
	return []*sql.Stmt{s.frame, s.memory, s.load, s.request, s.errorRow, s.event, s.sample, s.log, s.appLogs, s.pending}
}

// in returns the statements bound to tx.
func (s *statements) in(tx *sql.Tx) *statements {
	return &statements{
		frame: tx.Stmt(s.frame), memory: tx.Stmt(s.memory), load: tx.Stmt(s.load), request: tx.Stmt(s.request),
		errorRow: tx.Stmt(s.errorRow), event: tx.Stmt(s.event), sample: tx.Stmt(s.sample), log: tx.Stmt(s.log),
		appLogs: tx.Stmt(s.appLogs), pending: tx.Stmt(s.pending),
	}
}

func (s *statements) close() error {
	var errs []error
	for _, st := range s.all() {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// text is b as a string: go-sqlite3 binds a []byte as a BLOB.
func text(b []byte) string { return string(b) }

// nullInt is NULL for the parser's -1 ("empty").
func nullInt(n int64) any {
	if n < 0 {
		return nil
	}
	return n
}

// nullFloat is NULL for NaN (not a number) and infinities.
func nullFloat(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}

// nullNeg is NULL where the parser says -1 for "absent" (quota, load
// averages: never negative when present).
func nullNeg(f float64) any {
	if f < 0 {
		return nil
	}
	return nullFloat(f)
}

// rawRequest stores a router line as a row of its own (RawRequests).
func (s *statements) rawRequest(app string, ev *parser.Event) error {
	r := &ev.Router
	_, err := s.request.Exec(app, ev.Time.UnixMicro(), text(ev.Dyno), text(r.At), text(r.Code), text(r.Method), text(r.Path),
		text(r.Host), text(r.RequestID), text(r.Fwd), nullInt(r.ConnectMS), nullInt(r.ServiceMS), nullInt(int64(r.Status)),
		nullInt(r.Bytes), text(r.Protocol))
	return err
}

// insert stores a line other than an app line (those go to app_logs, a
// row a batch) as its row. A router line is a row only when it has an H-code: an errors row.
func (s *statements) insert(app string, ev *parser.Event) error {
	t := ev.Time.UnixMicro()
	dyno := text(ev.Dyno)
	var err error
	switch ev.Kind {
	case parser.KindRouter:
		if r := &ev.Router; len(r.Code) > 0 {
			_, err = s.errorRow.Exec(app, t, dyno, text(r.Code), text(ev.Message), nil, nil, nil)
		}
	case parser.KindMemory:
		m := &ev.Memory
		_, err = s.memory.Exec(app, t, dyno, text(m.Boot), nullFloat(m.TotalMB), nullFloat(m.RSSMB), nullFloat(m.CacheMB),
			nullFloat(m.SwapMB), nullInt(m.PgpgIn), nullInt(m.PgpgOut), nullNeg(m.QuotaMB))
	case parser.KindLoad:
		l := &ev.Load
		_, err = s.load.Exec(app, t, dyno, text(l.Boot), nullNeg(l.Avg1m), nullNeg(l.Avg5m), nullNeg(l.Avg15m))
	case parser.KindError:
		_, err = s.errorRow.Exec(app, t, dyno, text(ev.Error.Code), text(ev.Message), nil, nil, nullInt(ev.Error.Dropped))
	case parser.KindMemReport:
		_, err = s.errorRow.Exec(app, t, dyno, "mem", text(ev.Message), nullFloat(ev.MemReport.MB), nullFloat(ev.MemReport.Percent), nil)
	case parser.KindLifecycle:
		l := &ev.Lifecycle
		detail := ""
		switch l.Action {
		case parser.ActionState:
			detail = string(l.From) + " -> " + string(l.To)
		case parser.ActionStarting:
			detail = text(l.Command)
		}
		_, err = s.event.Exec(app, t, dyno, "lifecycle", l.Action.String(), detail, nullInt(int64(l.Status)), text(ev.Message))
		if err == nil && l.Crashed() {
			_, err = s.errorRow.Exec(app, t, dyno, "crash", text(ev.Message), nil, nil, nil)
		}
	case parser.KindRelease:
		_, err = s.event.Exec(app, t, dyno, "release", fmt.Sprintf("v%d", ev.Release.Version), text(ev.Release.By), nil, text(ev.Message))
	case parser.KindScale:
		_, err = s.event.Exec(app, t, dyno, "scale", "scale", text(ev.Scale.Formation), nil, text(ev.Message))
	case parser.KindAddon:
		err = s.samples(app, t, ev)
	case parser.KindApp:
		_, err = s.log.Exec(app, t, text(ev.AppName), text(ev.ProcID), text(ev.Message))
		if err == nil {
			err = s.samples(app, t, ev)
		}
	default:
		_, err = s.log.Exec(app, t, text(ev.AppName), text(ev.ProcID), text(ev.Message))
	}
	return err
}

func (s *statements) samples(app string, t int64, ev *parser.Event) error {
	for i := range ev.Samples {
		sm := &ev.Samples[i]
		src := sm.Source
		if len(src) == 0 {
			src = ev.Dyno
		}
		if _, err := s.sample.Exec(app, t, text(src), sm.Type.String(), text(sm.Name), nullFloat(sm.Value), text(sm.Unit), text(sm.Text)); err != nil {
			return err
		}
	}
	return nil
}
