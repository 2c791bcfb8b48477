package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/analyze"
	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

type recordingNotifier struct {
	mu   sync.Mutex
	sent []Alert
}

func (r *recordingNotifier) Notify(ctx context.Context, a Alert) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, a)
	return false, nil
}

// TestAlertsQuoteSuspects: a firing over-quota alert carries the named
// suspect paths, and only those.
func TestAlertsQuoteSuspects(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var asked []time.Time
	n := &recordingNotifier{}
	svc, err := NewService(context.Background(), ServiceConfig{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Suspects: func(ctx context.Context, app string, at time.Time) ([]analyze.Suspect, error) {
			asked = append(asked, at)
			return []analyze.Suspect{
				{Path: "/leaky/:id", MBPer1k: 48.2, T: 6.2, Named: true},
				{Path: "/", MBPer1k: 3, T: 1.1},
			}, nil
		},
	}, db, n)
	if err != nil {
		t.Fatal(err)
	}
	svc.in <- work{obs: []Observation{{Kind: ObsMemError, App: "shop", Dyno: "web.1", Time: t0, Code: "R14"}}}
	svc.Close()
	recs, _ := db.Alerts(context.Background(), store.Filter{App: "shop"})
	if len(recs) != 1 || len(asked) != 1 || !asked[0].Equal(t0) {
		t.Fatalf("alerts %v, asked %v", recs, asked)
	}
	var a Alert
	json.Unmarshal([]byte(recs[0].Details), &a)
	if len(a.Suspects) != 1 || a.Suspects[0].Path != "/leaky/:id" {
		t.Errorf("suspects %+v", a.Suspects)
	}
}

// TestQueueBoundedInBytes: while the engine is stuck (here on a slow
// suspects query), batches of observations queue up to QueueBytes only;
// the rest are dropped and counted, and the queue's bytes go back to zero
// once the engine catches up.
func TestQueueBoundedInBytes(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "q.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	entered, release := make(chan struct{}), make(chan struct{})
	svc, err := NewService(context.Background(), ServiceConfig{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), QueueBytes: 256 << 10,
		Suspects: func(ctx context.Context, app string, at time.Time) ([]analyze.Suspect, error) {
			close(entered)
			<-release
			return nil, nil
		},
	}, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	// 200 one-off dynos' memory samples a batch, as logplex frames them.
	var b strings.Builder
	for i := 0; i < 200; i++ {
		m := fmt.Sprintf("<45>1 2026-11-20T10:00:%02d.000000+00:00 host heroku run.%d - source=run.%d dyno=heroku.1.%08x sample#memory_total=100.00MB sample#memory_rss=90.00MB sample#memory_quota=512.00MB", i%60, i, i, i)
		fmt.Fprintf(&b, "%d %s\n", len(m)+1, m)
	}
	events, st := parser.ParseBody([]byte(b.String()), 0, nil)
	if st.Parsed != 200 {
		t.Fatalf("%+v", st)
	}
	size := obsBytes(FromEvents("shop", events, nil))
	r14 := "<45>1 2026-11-20T10:01:00.000000+00:00 host heroku web.1 - Error R14 (Memory quota exceeded)"
	over, _ := parser.ParseBody([]byte(fmt.Sprintf("%d %s\n", len(r14)+1, r14)), 0, nil)
	svc.Observe("shop", over)
	<-entered // the engine waits for the suspects of the alert it fires
	for i := 0; i < 40; i++ {
		svc.Observe("shop", events)
		if q := svc.QueuedBytes(); q > 256<<10 {
			t.Fatalf("%d bytes queued", q)
		}
	}
	fit := int64(256<<10) / size
	if d := svc.Dropped.Load(); d != 40-fit {
		t.Errorf("%d batches of %d bytes dropped, want %d", d, size, 40-fit)
	}
	close(release)
	if err := svc.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q := svc.QueuedBytes(); q != 0 {
		t.Errorf("%d bytes queued after the engine caught up", q)
	}
}
