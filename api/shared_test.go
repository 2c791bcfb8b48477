package api

import (
	"context"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/analyze"
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

// hoursOnly is a Store whose minute counts are gone (older than their
// retention) while its hour counts remain.
type hoursOnly struct {
	Store
	hours []store.SeriesPoint
}

func (hoursOnly) RequestsPerMinute(context.Context, store.Filter) ([]store.MinuteCount, error) {
	return nil, nil
}

func (h hoursOnly) RequestSeries(_ context.Context, f store.Filter, step time.Duration) ([]store.SeriesPoint, error) {
	if step != time.Hour || f.App != "app" || !f.Since.Equal(f.Since.Truncate(time.Hour)) {
		return nil, nil
	}
	return h.hours, nil
}

// An hour whose minute counts are gone has its count spread over its
// minutes, so that an old range is not taken to be all at rest.
func TestRequestsPerMinuteFromHours(t *testing.T) {
	h0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	l := &Local{DB: hoursOnly{hours: []store.SeriesPoint{
		{Dyno: "web.1", T: h0, Count: 600}, // busy: 10 a minute
		{Dyno: "web.1", T: h0.Add(time.Hour), Count: 30},
		{Dyno: "web.1", T: h0.Add(2 * time.Hour), Count: 120},
	}}}
	// Over 2 hours, days ago: a range the minute rows do not cover.
	f := store.Filter{Since: h0.Add(30 * time.Minute), Until: h0.Add(3 * time.Hour)}
	got, err := l.requestsPerMinute(context.Background(), f, []analyze.Boot{{App: "app", Dyno: "web.1"}})
	if err != nil {
		t.Fatal(err)
	}
	first, second, third := 0, 0, 0
	for _, m := range got {
		if m.App != "app" || m.Dyno != "web.1" || m.T.Before(f.Since) || !m.T.Before(f.Until) {
			t.Fatalf("minute %+v outside the range or the dyno", m)
		}
		switch {
		case m.T.Before(h0.Add(time.Hour)):
			first += m.N
		case m.T.Before(h0.Add(2 * time.Hour)):
			second += m.N
		default:
			third += m.N
		}
	}
	// The range holds the second half of the first hour, all of the others.
	if first != 300 || second != 30 || third != 120 {
		t.Errorf("spread %d, %d and %d requests, want 300, 30 and 120", first, second, third)
	}
}
