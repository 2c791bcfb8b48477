package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/postgres/pgtest"
	"github.com/drainwatch/drainwatch/store/storetest"
)

// TestConformance runs the backend suite against a PostgreSQL server: each
// name is a database of its own, and each Open a pool of its own, as
// another process would have.
func TestConformance(t *testing.T) {
	dbs := map[string]string{}
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T, name string, opts storetest.Options) (store.DB, store.Writer) {
			u, ok := dbs[name]
			if !ok {
				u = pgtest.NewDB(t)
				dbs[name] = u
			}
			db, err := Open(context.Background(), u, Options{})
			if err != nil {
				t.Fatal(err)
			}
			w, err := NewWriter(db, WriterOptions{FlushEvery: time.Hour, RawRequests: opts.RawRequests})
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
			pw := w.(*Writer)
			pw.roll.crash = true // no last flush: the pending rows stay
			pw.Close()
			db.Close()
		},
	})
}
