package store

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/drainwatch/drainwatch/parser"
)

// roller is the goroutine that stores committed batches as rows: it rolls
// their router lines into the cached minute rows as they come, and every
// FlushEvery, in one transaction, writes the minute rows that changed,
// stores every other line of the pending batches as its row, and deletes
// those pending rows. It also folds finished minutes into hours. It runs
// beside the writer, so this work is off the commit path that the drain's
// acknowledgements wait for.
type roller struct {
	db    *DB
	get   *sql.Stmt // loads a minute row; on the readers, not the writer's connection
	put   *sql.Stmt
	st    *statements
	evs   []parser.Event // scratch: a batch's lines, parsed again
	log   *slog.Logger
	every time.Duration
	in    chan rollItem
	done  chan struct{}

	// rolls holds the minute rows of recent buckets: the rows in the
	// database plus every pending_batches row up to pendingMax. When an
	// error may have left it short of that, bad says it must be rebuilt
	// from the database before the next flush.
	rolls      rollupCache
	pendingMax int64
	flushedMax int64 // pending rows up to this id are deleted
	bad        bool
	crash      bool // tests: no flush at the end
	cacheRows  int  // tests: rolls.max

	batchRows map[batchRowKey]*rollAcc // scratch of rollIn
}

// batchRowKey is a minute row of one batch, by the indexes of its strings
// in the batch's string table.
type batchRowKey struct {
	start, dyno, path uint64
	status            int64
}

// rollItem is a committed batch's router lines, or a Flush to answer.
type rollItem struct {
	app    string
	id     int64 // its pending_batches row
	router []byte
	flush  *request
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
	if r.st, err = prepare(db.rw); err != nil {
		r.get.Close()
		r.put.Close()
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
	return errors.Join(r.get.Close(), r.put.Close(), r.st.close())
}

// run rolls up and stores batches until in is closed, then flushes once
// more.
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
					r.logError("storing batches", r.flush())
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
			r.logError("storing batches", r.flush())
		case <-fold.C:
			foldDue = true
		}
		if foldDue && len(r.in) == 0 {
			foldDue = r.fold()
		}
	}
}

// absorb rolls a committed batch's router lines into the cached minute
// rows. They are durable in the batch's pending row until the next flush
// writes the rows and deletes it.
func (r *roller) absorb(it rollItem) {
	if r.bad || it.id <= r.pendingMax {
		return // the rebuild read it from the database, or will
	}
	if err := r.rollIn(it.app, it.router); err != nil {
		r.logError("rollup cache", err)
		r.bad = true
		return
	}
	r.pendingMax = it.id
}

// rollIn rolls the router section of a batch of app into the cache.
func (r *roller) rollIn(app string, router []byte) error {
	if router == nil { // no router lines
		return nil
	}
	// The batch's rows by string indexes first: hashing four strings a line
	// into the cache's map took most of the roller's time.
	if r.batchRows == nil {
		r.batchRows = map[batchRowKey]*rollAcc{}
	}
	rows := r.batchRows
	clear(rows)
	return decodePending(router, func(l *pendingLine) error {
		k := batchRowKey{uint64(l.unix - l.unix%60), l.dynoIdx, l.pathIdx, int64(statusClassIndex(int(l.status)))}
		a := rows[k]
		if a == nil {
			var err error
			if a, err = r.rolls.row(r.get, l.keyOf(app)); err != nil {
				return err
			}
			rows[k] = a
		}
		a.add(l)
		return nil
	})
}

// flush stores the pending batches up to pendingMax, in one transaction:
// the cached minute rows that changed, every other line as its row, and
// the deletion of the pending rows.
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
	if err := r.storeRest(tx); err != nil {
		return err
	}
	if _, err := tx.Exec(`DELETE FROM pending_batches WHERE id > ? AND id <= ?`, r.flushedMax, r.pendingMax); err != nil {
		return fmt.Errorf("store: pending batches: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: storing batches: commit: %w", err)
	}
	r.rolls.clean()
	r.flushedMax = r.pendingMax
	return nil
}

// rebuild reads every pending row into a fresh cache: at start-up (what a
// crash left) and after an error left the cache short.
func (r *roller) rebuild() error {
	r.rolls = rollupCache{max: r.cacheRows}
	rows, err := r.db.rw.Query(`SELECT id, app, router FROM pending_batches ORDER BY id`)
	if err != nil {
		return fmt.Errorf("store: pending rows: %w", err)
	}
	var all []rollItem
	for rows.Next() {
		var it rollItem
		if err := rows.Scan(&it.id, &it.app, &it.router); err != nil {
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
		r.flushedMax = all[0].id - 1 // the next flush stores them
	}
	for _, it := range all {
		err := r.rollIn(it.app, it.router)
		if errors.Is(err, errPendingCorrupt) {
			r.logError("rollup replay", fmt.Errorf("pending row %d skipped: %w", it.id, err))
		} else if err != nil {
			r.rolls = rollupCache{max: r.cacheRows}
			return fmt.Errorf("store: pending rows: %w", err)
		}
		r.pendingMax = it.id
	}
	r.bad = false
	return nil
}

// storeRest stores the lines of the pending batches in (flushedMax,
// pendingMax] other than the rolled-up router lines, a chunk of batches at
// a time.
func (r *roller) storeRest(tx *sql.Tx) error {
	s := r.st.in(tx)
	defer s.close()
	type batch struct {
		id   int64
		app  string
		rest []byte
	}
	var chunk []batch
	for from := r.flushedMax; from < r.pendingMax; {
		rows, err := tx.Query(`SELECT id, app, rest FROM pending_batches WHERE id > ? AND id <= ? AND rest IS NOT NULL
			ORDER BY id LIMIT 64`, from, r.pendingMax)
		if err != nil {
			return fmt.Errorf("store: pending batches: %w", err)
		}
		chunk = chunk[:0]
		for rows.Next() {
			var b batch
			if err := rows.Scan(&b.id, &b.app, &b.rest); err != nil {
				rows.Close()
				return fmt.Errorf("store: pending batches: %w", err)
			}
			chunk = append(chunk, b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: pending batches: %w", err)
		}
		if len(chunk) == 0 {
			break
		}
		for _, b := range chunk {
			from = b.id
			r.evs = r.evs[:0]
			err := decodeRest(b.rest, func(h *parser.Header) error {
				if len(r.evs) < cap(r.evs) {
					r.evs = r.evs[:len(r.evs)+1] // reuse the event's buffers
				} else {
					r.evs = append(r.evs, parser.Event{})
				}
				parser.Parse(h, &r.evs[len(r.evs)-1])
				return nil
			})
			if errors.Is(err, errPendingCorrupt) {
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
	return nil
}

// fold folds finished minutes into hours (the newest minutes' rows keep
// coming) and reports whether more are left.
func (r *roller) fold() bool {
	r.logError("storing batches", r.flush())
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
