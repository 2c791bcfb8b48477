package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/storetest"
)

// TestConformance runs the backend suite against SQLite: each name is a
// file in one directory, and each Open a handle of its own, as another
// process would have. Rows are stored when the suite flushes (or queries),
// not on a timer, so that a crash leaves what it should.
func TestConformance(t *testing.T) {
	dir := t.TempDir()
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T, name string, opts storetest.Options) (store.DB, store.Writer) {
			db, err := Open(context.Background(), filepath.Join(dir, name+".db"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			w, err := NewWriter(db, WriterOptions{FlushEvery: time.Hour, RawRequests: opts.RawRequests, Retention: store.Retention{Off: true}})
			if err != nil {
				db.Close()
				t.Fatal(err)
			}
			t.Cleanup(func() {
				w.Close()
				db.Close()
			})
			return db, w
		},
		Prune: func(t *testing.T, db store.DB, r store.Retention, now time.Time) {
			for done := false; !done; {
				var err error
				if _, done, err = db.(*DB).prune(context.Background(), r, now, 1000); err != nil {
					t.Fatal(err)
				}
			}
		},
		Crash: func(t *testing.T, db store.DB, w store.Writer) {
			sw := w.(*Writer)
			sw.roll.crash = true // no last flush: the pending rows stay
			sw.Close()
			db.Close()
		},
	})
}
