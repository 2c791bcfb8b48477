package api

import (
	"context"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/store"
)

// blockingDynos is a Store whose Dynos waits for release, then reports
// what became of the context it was given.
type blockingDynos struct {
	Store
	started, release chan struct{}
	err              error
	deadline         bool
}

func (b *blockingDynos) Dynos(ctx context.Context, f store.Filter) ([]store.DynoSummary, error) {
	close(b.started)
	<-b.release
	b.err = ctx.Err()
	_, b.deadline = ctx.Deadline()
	return []store.DynoSummary{{App: f.App, Dyno: "web.1"}}, nil
}

// The top-dynos query is shared by the page's parts and by concurrent
// pages: the first caller going away must not cancel it for the others,
// while its deadline still bounds it.
func TestSharedDynosNotCancelledByOneCaller(t *testing.T) {
	db := &blockingDynos{started: make(chan struct{}), release: make(chan struct{})}
	l := &Local{DB: db}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	done := make(chan error)
	go func() {
		_, err := l.topDynos(ctx, store.Filter{App: "app"}, 10)
		done <- err
	}()
	<-db.started
	cancel()
	close(db.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if db.err != nil || !db.deadline {
		t.Errorf("the shared query's context: err %v, deadline kept %v", db.err, db.deadline)
	}
}
