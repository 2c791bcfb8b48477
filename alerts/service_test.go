package alerts

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/analyze"
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
