package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store/pending"
	"github.com/drainwatch/drainwatch/store/rollup"
)

// roller stores committed batches as rows. Every FlushEvery, and when a
// query asks (DB.sync), it reads the pending_batches rows, rolls their
// router lines up into per-minute deltas, and in one transaction adds the
// deltas to the rollup rows, stores every other line as its row, and
// deletes the pending rows. It works from the database alone, not from
// what its own writer committed, so any writer's pending rows — another
// process's, or what a crash left — are stored exactly once: the
// transaction first checks that no other roller took them meanwhile.
// It also folds finished minutes into hours.
type roller struct {
	db       *DB
	merge    *sql.Stmt
	st       *statements
	log      *slog.Logger
	every    time.Duration
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	crash    bool // tests: no flush at the end

	begun   atomic.Int64 // flushes begun
	waiting atomic.Int32 // calls waiting for a flush to end

	mu        sync.Mutex // one flush at a time; guards what follows
	lastErr   error
	newest    int64 // newest minute start seen, Unix microseconds: folding's clock
	evs       []parser.Event
	deltas    map[rollup.Key]*rollup.Acc
	batchRows map[batchRowKey]*rollup.Acc
	buf       []byte
}

// batchRowKey is a minute row of one batch, by the indexes of its strings
// in the batch's string table.
type batchRowKey struct {
	start, dyno, path uint64
	status            int64
}

// pendingChunk is how many pending rows one flush transaction stores at
// most (a second of the bench's load is ~750).
const pendingChunk = 2048

func newRoller(db *DB, every time.Duration, log *slog.Logger) (*roller, error) {
	r := &roller{db: db, log: log, every: every, stop: make(chan struct{}), done: make(chan struct{})}
	var err error
	if r.merge, err = db.rw.Prepare(rollupMerge); err != nil {
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	if r.st, err = prepare(db.rw); err != nil {
		r.merge.Close()
		return nil, err
	}
	// Store what a crash left pending, before new batches come.
	if err := r.flush(); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *roller) close() error {
	return errors.Join(r.merge.Close(), r.st.close())
}

// run flushes every r.every and folds every minute until stop is closed,
// then flushes once more.
func (r *roller) run() {
	defer close(r.done)
	flush := time.NewTicker(r.every)
	defer flush.Stop()
	fold := time.NewTicker(time.Minute)
	defer fold.Stop()
	for {
		select {
		case <-r.stop:
			if !r.crash {
				r.logError("storing batches", r.flush())
			}
			return
		case <-flush.C:
			r.logError("storing batches", r.flush())
		case <-fold.C:
			for r.fold() {
			}
		}
	}
}

// flush stores every pending row committed before it was called. A call
// that finds a flush running waits for it, then starts another only if
// none began after it was called: concurrent queries (a dashboard's) share
// one flush instead of queueing one each.
func (r *roller) flush() error {
	called := r.begun.Load()
	r.waiting.Add(1)
	r.mu.Lock()
	r.waiting.Add(-1)
	defer r.mu.Unlock()
	if r.begun.Load() > called {
		return r.lastErr // that flush read the pending rows after this call
	}
	r.begun.Add(1)
	r.lastErr = r.flushAll()
	return r.lastErr
}

func (r *roller) flushAll() error {
	for range 10 {
		n, err := r.flushChunk()
		if errors.Is(err, errPendingTaken) {
			continue
		}
		if err != nil || n < pendingChunk {
			return err
		}
	}
	return nil
}

var errPendingTaken = errors.New("store: pending rows taken by another writer")

// flushChunk stores the oldest pending rows, up to pendingChunk, and
// returns how many it found. The router lines are rolled up before the
// transaction, from a read snapshot, so that the transaction — which holds
// the database's one write lock — does only the writes.
func (r *roller) flushChunk() (int, error) {
	if r.deltas == nil {
		r.deltas = map[rollup.Key]*rollup.Acc{}
	}
	clear(r.deltas)
	var n int
	var maxID int64
	err := eachRow(context.Background(), r.db.ro, "store: pending rows", `SELECT id, app, router FROM pending_batches ORDER BY id LIMIT ?`, []any{pendingChunk}, func(rows *sql.Rows) error {
		var app string
		var router []byte
		if err := rows.Scan(&maxID, &app, &router); err != nil {
			return err
		}
		n++
		if err := r.rollIn(app, router); err != nil {
			r.logError("rollup", fmt.Errorf("pending row %d: router lines skipped: %w", maxID, err))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	tx, done, err := r.begin()
	if err != nil {
		return 0, fmt.Errorf("store: begin: %w", err)
	}
	defer done()
	defer tx.Rollback()
	// Ids grow in commit order, so the rows up to maxID now are the ones
	// read, unless another writer's roller stored some meanwhile.
	var still int
	if err := tx.QueryRow(`SELECT COUNT(*) FROM pending_batches WHERE id <= ?`, maxID).Scan(&still); err != nil {
		return 0, fmt.Errorf("store: pending rows: %w", err)
	}
	if still != n {
		return 0, errPendingTaken
	}
	merge := tx.Stmt(r.merge)
	defer merge.Close()
	for k, a := range r.deltas {
		if err := mergeRollup(merge, k, a, &r.buf); err != nil {
			return 0, fmt.Errorf("store: rollups: %w", err)
		}
	}
	if err := r.storeRest(tx, maxID); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(`DELETE FROM pending_batches WHERE id <= ?`, maxID); err != nil {
		return 0, fmt.Errorf("store: pending batches: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: storing batches: commit: %w", err)
	}
	return n, nil
}

// begin starts the flush's transaction on the write connection with
// synchronous=NORMAL: its commit does not wait for the disk. Nothing
// acknowledged depends on it: the pending rows it stores were synced with
// their batches and are deleted in this same transaction, so a power cut
// that loses it leaves them pending, to be stored at the next start; and
// the next synced commit (the writer's) syncs the WAL this commit is in.
// done puts synchronous=FULL back before the connection serves anyone
// else, or discards the connection if it cannot.
func (r *roller) begin() (tx *sql.Tx, done func(), err error) {
	ctx := context.Background()
	conn, err := r.db.rw.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !r.db.noSync {
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	done = func() {
		if !r.db.noSync {
			if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
				r.logError("storing batches", fmt.Errorf("synchronous=FULL not restored, connection closed: %w", err))
				conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}
		conn.Close()
	}
	if tx, err = conn.BeginTx(ctx, nil); err != nil {
		done()
		return nil, nil, err
	}
	return tx, done, nil
}

// rollIn adds the router section of a batch of app to r.deltas.
func (r *roller) rollIn(app string, router []byte) error {
	if router == nil { // no router lines
		return nil
	}
	// The batch's rows by string indexes first: hashing four strings a line
	// into the deltas' map took most of the roller's time.
	if r.batchRows == nil {
		r.batchRows = map[batchRowKey]*rollup.Acc{}
	}
	rows := r.batchRows
	clear(rows)
	return pending.DecodeRouter(router, func(l *pending.RouterLine) error {
		k := batchRowKey{uint64(l.Unix - l.Unix%60), l.DynoIdx, l.PathIdx, int64(rollup.StatusClassIndex(int(l.Status)))}
		a := rows[k]
		if a == nil {
			rk := rollup.KeyOf(app, l)
			if a = r.deltas[rk]; a == nil {
				a = rollup.NewAcc()
				r.deltas[rk] = a
			}
			if rk.Start > r.newest {
				r.newest = rk.Start
			}
			rows[k] = a
		}
		a.Add(l)
		return nil
	})
}

// storeRest stores the lines of the pending batches up to maxID other than
// the rolled-up router lines, a chunk of batches at a time.
func (r *roller) storeRest(tx *sql.Tx, maxID int64) error {
	s := r.st.in(tx)
	defer s.close()
	type batch struct {
		id   int64
		app  string
		rest []byte
	}
	var chunk []batch
	for from := int64(0); ; {
		chunk = chunk[:0]
		err := eachRow(context.Background(), tx, "store: pending batches", `SELECT id, app, rest FROM pending_batches WHERE id > ? AND id <= ? AND rest IS NOT NULL
			ORDER BY id LIMIT 64`, []any{from, maxID}, func(rows *sql.Rows) error {
			var b batch
			err := rows.Scan(&b.id, &b.app, &b.rest)
			chunk = append(chunk, b)
			return err
		})
		if err != nil {
			return err
		}
		if len(chunk) == 0 {
			return nil
		}
		for _, b := range chunk {
			from = b.id
			var err error
			r.evs, err = pending.DecodeRest(b.rest, r.evs)
			if errors.Is(err, pending.ErrCorrupt) {
				r.logError("pending batch", fmt.Errorf("batch %d: lines other than router lines skipped: %w", b.id, err))
				continue
			}
			for i := range r.evs {
				if err := s.insert(b.app, &r.evs[i]); err != nil {
					return fmt.Errorf("store: insert %s line: %w", r.evs[i].Kind, err)
				}
			}
		}
	}
}

// fold folds finished minutes into hours (the newest minutes' rows keep
// coming) and reports whether more are left.
func (r *roller) fold() bool {
	r.mu.Lock()
	newest := r.newest
	r.mu.Unlock()
	n, err := r.db.foldMinutes(time.UnixMicro(newest), 2*time.Minute, foldChunk)
	r.logError("rollup folding", err)
	return err == nil && n == foldChunk
}

const foldChunk = 20000

func (r *roller) logError(what string, err error) {
	if err != nil && r.log != nil {
		r.log.Error(what, "error", err.Error())
	}
}
