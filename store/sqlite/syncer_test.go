package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/drainwatch/drainwatch/store"
)

// One fsync covers every commit made before it began; a commit made after
// it needs another; a waiter gives up when its context ends; after close,
// a commit not yet on disk is an error rather than an acknowledgement.
func TestWALSyncerGroupsCommits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	if err := os.WriteFile(path+"-wal", []byte("frames"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newWALSyncer(path, false)
	ctx := context.Background()
	c1, c2, c3 := s.commit(), s.commit(), s.commit()
	if err := s.wait(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if got := s.syncs.Load(); got != 1 {
		t.Fatalf("%d fsyncs for the first wait, want 1", got)
	}
	for _, c := range []int64{c1, c3} { // made before that fsync began
		if err := s.wait(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.syncs.Load(); got != 1 {
		t.Fatalf("%d fsyncs, want 1: commits made before an fsync need no other", got)
	}
	c4 := s.commit()
	if err := s.wait(ctx, c4); err != nil {
		t.Fatal(err)
	}
	if got := s.syncs.Load(); got != 2 {
		t.Fatalf("%d fsyncs, want 2: a commit after an fsync needs its own", got)
	}

	c5 := s.commit()
	s.lock <- struct{}{} // an fsync in progress
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.wait(cancelled, c5); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with an ended context: %v", err)
	}
	<-s.lock

	s.close()
	if err := s.wait(ctx, c4); err != nil {
		t.Fatalf("a commit on disk before close: %v", err)
	}
	if err := s.wait(ctx, c5); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("a commit not on disk at close: %v, want store.ErrClosed", err)
	}
}

// A sync error reaches every waiter whose commit it did not cover, and the
// next wait tries again.
func TestWALSyncerReportsErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := newWALSyncer(path, false) // no WAL file yet
	c := s.commit()
	if err := s.wait(context.Background(), c); err == nil {
		t.Fatal("fsync of a missing WAL file succeeded")
	}
	if err := os.WriteFile(path+"-wal", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.wait(context.Background(), c); err != nil {
		t.Fatalf("retry once the file is there: %v", err)
	}
	if s.syncs.Load() != 1 {
		t.Fatalf("%d fsyncs, want 1", s.syncs.Load())
	}
}
