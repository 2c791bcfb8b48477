package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// delivery is one POST: which app, which body.
type delivery struct {
	app  string
	body []byte
}

// alertsPerApp runs deliveries through a fresh daemon, closes it (every
// queued batch judged), and returns each app's stored alerts as lines.
func alertsPerApp(t *testing.T, deliveries []delivery) map[string][]string {
	t.Helper()
	s := startAlertServer(t, filepath.Join(t.TempDir(), "alerts.db"), "http://127.0.0.1:1/unused")
	for i, d := range deliveries {
		if code := post(t, "http://"+s.Addr()+"/logs/"+d.app, d.body, map[string]string{"Logplex-Frame-Id": fmt.Sprintf("%s-%d", d.app, i)}); code != 200 {
			t.Fatalf("delivery %d to %s: %d", i, d.app, code)
		}
	}
	db := s.db
	if err := s.alerts.Close(); err != nil { // drains the engine's queue
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, app := range []string{"a", "b", "c"} {
		recs, err := db.Alerts(context.Background(), storeFilter(app))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			summary := strings.ReplaceAll(r.Summary, " of "+app, " of APP") // the same alert, for any app
			out[app] = append(out[app], r.Time.Format(time.RFC3339)+" "+r.Dyno+" "+r.Rule+" "+r.State+": "+summary)
		}
	}
	s.Close(context.Background())
	return out
}

// TestAlertsPerAppClock: the same history for two apps, through the real
// drain, gives each app the same alerts whether their drains deliver in
// step, one 10 minutes behind the other, or interleaved with last week's
// history of a third app.
func TestAlertsPerAppClock(t *testing.T) {
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	bodies := history(start) // one body per 10 minutes of log time
	lastWeek := history(start.Add(-7 * 24 * time.Hour))

	var inStep, withImport []delivery
	for i, b := range bodies {
		inStep = append(inStep, delivery{"a", b}, delivery{"b", b})
		withImport = append(withImport, delivery{"a", b}, delivery{"c", lastWeek[i]}, delivery{"b", b})
	}
	// b's drain lags k bodies (10 minutes each): its body i arrives with
	// a's body i+k.
	lagging := func(k int) []delivery {
		var ds []delivery
		for i, b := range bodies {
			ds = append(ds, delivery{"a", b})
			if i >= k {
				ds = append(ds, delivery{"b", bodies[i-k]})
			}
		}
		for _, b := range bodies[len(bodies)-k:] {
			ds = append(ds, delivery{"b", b})
		}
		return ds
	}

	want := alertsPerApp(t, inStep)
	if len(want["a"]) < 5 || strings.Join(want["a"], "\n") != strings.Join(want["b"], "\n") {
		t.Fatalf("in step, a and b differ or alert too little:\n%s\n--\n%s", strings.Join(want["a"], "\n"), strings.Join(want["b"], "\n"))
	}
	for name, ds := range map[string][]delivery{"b lagging 10 minutes": lagging(1), "b lagging 40 minutes": lagging(4),
		"with last week's history of c": withImport} {
		got := alertsPerApp(t, ds)
		for _, app := range []string{"a", "b"} {
			if strings.Join(got[app], "\n") != strings.Join(want[app], "\n") {
				t.Errorf("%s: app %s got\n%s\nwant\n%s", name, app, strings.Join(got[app], "\n"), strings.Join(want[app], "\n"))
			}
		}
	}
}
