package store

import (
	"fmt"
	"os"
	"sync/atomic"
)

// Durability. The database runs with synchronous=NORMAL: a commit writes
// its pages to the WAL without waiting for the disk. The writer's commits
// are then made durable here, by an fsync of the WAL file — what
// synchronous=FULL does inside every commit — before their batches are
// acknowledged. Done by a goroutine of its own, one fsync covers every
// commit made while the one before it ran, and the writer commits the next
// batches meanwhile instead of waiting for the disk: with 4 connections
// posting, `drainwatch bench` acknowledged about half again as many lines
// (README, Performance). SQLite's recovery replays the WAL up to its last
// whole commit, so a commit whose frames were written before a completed
// fsync survives power loss; and in NORMAL mode SQLite itself syncs the WAL
// before each checkpoint and its header when the WAL starts over.
type walSyncer struct {
	path   string // the WAL file
	noSync bool   // Options.NoSync: acknowledge at commit
	f      *os.File
	fi     os.FileInfo
	in     chan []*request
	done   chan struct{}
	syncs  atomic.Int64 // fsyncs done, for tests
}

func newWALSyncer(dbPath string, noSync bool, queue int) *walSyncer {
	return &walSyncer{path: dbPath + "-wal", noSync: noSync, in: make(chan []*request, queue), done: make(chan struct{})}
}

// run acknowledges committed requests once the WAL holding them is on disk,
// until in is closed.
func (s *walSyncer) run() {
	defer close(s.done)
	defer func() {
		if s.f != nil {
			s.f.Close()
		}
	}()
	var group []*request
	for reqs := range s.in {
		group = append(group[:0], reqs...)
	more:
		for {
			select {
			case more, ok := <-s.in:
				if !ok {
					break more
				}
				group = append(group, more...)
			default:
				break more
			}
		}
		err := s.sync()
		for _, r := range group {
			if err != nil {
				r.res, r.err = Result{}, err
			}
			close(r.done)
		}
	}
}

// sync fsyncs the WAL file, opening it again if it is not the one open
// (SQLite deletes it only when its last connection closes).
func (s *walSyncer) sync() error {
	if s.noSync {
		return nil
	}
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
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	s.syncs.Add(1)
	return nil
}
