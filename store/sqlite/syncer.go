package sqlite

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/drainwatch/drainwatch/store"
)

// Durability. The database runs with synchronous=NORMAL: a commit writes
// its pages to the WAL without waiting for the disk. The writer's commits
// are then made durable here, by an fsync of the WAL file — what
// synchronous=FULL does inside every commit — before their batches are
// acknowledged. The fsync is done by the goroutines waiting for their
// acknowledgement, one at a time: one fsync covers every commit made
// before it began, so the goroutines that waited behind it find their
// commits on disk already; and the writer commits the next batches
// meanwhile instead of waiting for the disk. SQLite's recovery replays the
// WAL up to its last whole commit, so a commit whose frames were written
// before a completed fsync survives power loss; and in NORMAL mode SQLite
// itself syncs the WAL before each checkpoint and its header when the WAL
// starts over.
type walSyncer struct {
	path   string        // the WAL file
	noSync bool          // Options.NoSync: acknowledge at commit
	lock   chan struct{} // held while syncing; a channel, so that waiting ends with its context

	committed atomic.Int64 // commits made; the writer counts them
	syncs     atomic.Int64 // fsyncs done, for tests

	// Guarded by lock.
	synced int64 // commits up to this one are on disk
	f      *os.File
	fi     os.FileInfo
	closed bool
}

func newWALSyncer(dbPath string, noSync bool) *walSyncer {
	return &walSyncer{path: dbPath + "-wal", noSync: noSync, lock: make(chan struct{}, 1)}
}

// commit is called by the writer once a commit has returned, and numbers it.
func (s *walSyncer) commit() int64 { return s.committed.Add(1) }

// wait returns once commit seq is on disk.
func (s *walSyncer) wait(ctx context.Context, seq int64) error {
	if s.noSync {
		return nil
	}
	select {
	case s.lock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.lock }()
	if s.synced >= seq {
		return nil
	}
	if s.closed {
		return store.ErrClosed
	}
	upTo := s.committed.Load()
	if err := s.sync(); err != nil {
		return err
	}
	s.synced = upTo
	return nil
}

// sync fsyncs the WAL file, opening it again if it is not the one open
// (SQLite deletes it only when its last connection closes).
func (s *walSyncer) sync() error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	if s.f == nil || !os.SameFile(fi, s.fi) {
		if s.f != nil {
			s.f.Close()
		}
		if s.f, err = os.Open(s.path); err != nil {
			s.f = nil
			return fmt.Errorf("store: sync: %w", err)
		}
		if s.fi, err = s.f.Stat(); err != nil || !os.SameFile(fi, s.fi) {
			return fmt.Errorf("store: sync: the WAL file changed while opening it")
		}
	}
	if err := syncData(s.f); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	s.syncs.Add(1)
	return nil
}

// close closes the WAL file once no fsync runs; commits not synced by then
// are left to SQLite's own sync when the database closes.
func (s *walSyncer) close() {
	s.lock <- struct{}{}
	defer func() { <-s.lock }()
	s.closed = true
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}
