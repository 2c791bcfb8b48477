package store

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// roller is the goroutine that owns the rollup cache: it rolls the router
// lines of committed batches into the cached minute rows, writes the rows
// that changed every FlushEvery (deleting the pending rows they now hold),
// and folds finished minutes into hours. It runs beside the writer, so that
// this work is off the commit path: while the writer waits for an fsync the
// roller rolls up the batches before.
type roller struct {
	db    *DB
	get   *sql.Stmt // loads a minute row; on the readers, not the writer's connection
	put   *sql.Stmt
	log   *slog.Logger
	every time.Duration
	in    chan rollItem
	done  chan struct{}

	// rolls holds the minute rows of recent buckets: the rows in the
	// database plus every pending_requests row up to pendingMax. When an
	// error may have left it short of that, bad says it must be rebuilt
	// from the database before the next flush.
	rolls      rollupCache
	pendingMax int64
	flushedMax int64 // pending rows up to this id are deleted
	bad        bool
	crash      bool // tests: no flush at the end
}

// rollItem is a committed batch's router lines, or a Flush to answer.
type rollItem struct {
	app   string
	id    int64 // its pending_requests row
	body  []byte
	flush *request
}

func newRoller(db *DB, every time.Duration, log *slog.Logger) (*roller, error) {
	r := &roller{db: db, log: log, every: every, in: make(chan rollItem, 256), done: make(chan struct{}), bad: true}
	var err error
	if r.get, err = db.ro.Prepare(rollupGet); err != nil {
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	if r.put, err = db.rw.Prepare(rollupUpsert); err != nil {
		r.get.Close()
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	// Roll up what a crash left pending, before new batches come.
	if err := r.flush(); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *roller) close() error {
	return errors.Join(r.get.Close(), r.put.Close())
}

// run rolls up until in is closed, then flushes once more.
func (r *roller) run() {
	defer close(r.done)
	flush := time.NewTicker(r.every)
	defer flush.Stop()
	fold := time.NewTicker(time.Minute)
	defer fold.Stop()
	foldDue := false
	for {
		select {
		case it, ok := <-r.in:
			if !ok {
				if !r.crash {
					r.logError("rollup flush", r.flush())
				}
				return
			}
			if it.flush != nil {
				it.flush.err = r.flush()
				close(it.flush.done)
				continue
			}
			r.absorb(it)
		case <-flush.C:
			r.logError("rollup flush", r.flush())
		case <-fold.C:
			foldDue = true
		}
		if foldDue && len(r.in) == 0 {
			foldDue = r.fold()
		}
	}
}

// absorb rolls a committed batch's router lines into the cached minute
// rows. They are already durable, and queries read them as pending rows
// until the next flush writes the rows and deletes the pending ones.
func (r *roller) absorb(it rollItem) {
	if r.bad || it.id <= r.pendingMax {
		return // the rebuild read it from the database, or will
	}
	err := decodePending(it.body, func(l *pendingLine) error {
		return r.rolls.add(r.get, it.app, l)
	})
	if err != nil {
		r.logError("rollup cache", err)
		r.bad = true
		return
	}
	r.pendingMax = it.id
}

// flush writes the cached minute rows that changed since the last flush
// and deletes the pending rows they now hold, in one transaction.
func (r *roller) flush() error {
	if r.bad {
		if err := r.rebuild(); err != nil {
			return err
		}
	}
	if r.pendingMax == r.flushedMax {
		return nil
	}
	tx, err := r.db.rw.Begin()
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()
	put := tx.Stmt(r.put)
	defer put.Close()
	if err := r.rolls.flush(put); err != nil {
		return fmt.Errorf("store: rollups: %w", err)
	}
	if _, err := tx.Exec(`DELETE FROM pending_requests WHERE id <= ?`, r.pendingMax); err != nil {
		return fmt.Errorf("store: rollups: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: rollups: commit: %w", err)
	}
	r.rolls.clean()
	r.flushedMax = r.pendingMax
	return nil
}

// rebuild reads every pending row into a fresh cache: at start-up (what a
// crash left) and after an error left the cache short.
func (r *roller) rebuild() error {
	r.rolls = rollupCache{}
	rows, err := r.db.rw.Query(`SELECT id, app, body FROM pending_requests ORDER BY id`)
	if err != nil {
		return fmt.Errorf("store: pending rows: %w", err)
	}
	var all []rollItem
	for rows.Next() {
		var it rollItem
		if err := rows.Scan(&it.id, &it.app, &it.body); err != nil {
			rows.Close()
			return fmt.Errorf("store: pending rows: %w", err)
		}
		all = append(all, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: pending rows: %w", err)
	}
	r.pendingMax, r.flushedMax = 0, 0
	if len(all) > 0 {
		r.flushedMax = -1 // the next flush deletes them, even corrupt ones
	}
	for _, it := range all {
		err := decodePending(it.body, func(l *pendingLine) error {
			return r.rolls.add(r.get, it.app, l)
		})
		if errors.Is(err, errPendingCorrupt) {
			r.logError("rollup replay", fmt.Errorf("pending row %d skipped: %w", it.id, err))
		} else if err != nil {
			r.rolls = rollupCache{}
			return fmt.Errorf("store: pending rows: %w", err)
		}
		r.pendingMax = it.id
	}
	r.bad = false
	return nil
}

// fold folds finished minutes into hours (the newest minutes' rows keep
// coming) and reports whether more are left.
func (r *roller) fold() bool {
	r.logError("rollup flush", r.flush())
	n, err := r.db.foldMinutes(time.UnixMicro(r.rolls.newest), 2*time.Minute, foldChunk)
	r.logError("rollup folding", err)
	return err == nil && n == foldChunk
}

const foldChunk = 20000

func (r *roller) logError(what string, err error) {
	if err != nil && r.log != nil {
		r.log.Error(what, "error", err.Error())
	}
}
