package alerts

import (
	"strings"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/parser"
)

// TestDropsRule: the first drop notice fires once for the app, with the
// lines dropped in the last hour; more notices do not fire again; an hour
// without one resolves it.
func TestDropsRule(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var evs []parser.Event
	for _, f := range []string{
		"<172>1 2026-11-20T10:00:00Z host heroku logplex - Error L10 (output buffer overflow): 1431 messages dropped since 2026-11-20T09:58:00+00:00.",
		"<172>1 2026-11-20T10:00:00Z heroku myapp log-shuttle - - Error L12: 1433 messages dropped since 2026-11-20T09:58:00.000000+00:00",
		"<172>1 2026-11-20T10:00:00Z host heroku logplex - Error L11 (Tail buffer overflow) -> This tail session dropped 5 messages since 2026-11-20T09:58:00+00:00.",
	} {
		var ev parser.Event
		if err := parser.ParseFrame([]byte(f), &ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	obs := FromEvents("myapp", evs, nil)
	if len(obs) != 2 || obs[0].Kind != ObsDrops || obs[0].N != 1431 || obs[1].N != 1433 {
		t.Fatalf("observations %+v", obs)
	}
	d := NewDrops()
	// Both notices arrive, in one batch: the first fires with its own count.
	var fired []Alert
	for _, o := range obs {
		fired = append(fired, d.Observe(o)...)
	}
	if len(fired) != 1 || fired[0].Rule != RuleDrops || fired[0].State != Firing || fired[0].Dyno != "" ||
		fired[0].Summary != "logplex dropped 1,431 lines for myapp in the last hour: drainwatch answers too slowly, or the app logs more than the drain can take" {
		t.Fatalf("fired %+v", fired)
	}
	line := Observation{Kind: ObsMemory, App: "myapp", Dyno: "web.1", Time: t0.Add(59 * time.Minute)}
	if got := d.Observe(line); len(got) != 0 {
		t.Fatalf("resolved too soon: %+v", got)
	}
	line.Time = t0.Add(time.Hour)
	got := d.Observe(line)
	if len(got) != 1 || got[0].State != Resolved || !strings.Contains(got[0].Summary, "2,864 lines dropped in all") {
		t.Fatalf("resolve %+v", got)
	}
	// A restart keeps an open episode open, without firing again.
	d2 := NewDrops()
	d2.Restore(fired)
	if got := d2.Observe(obs[1]); len(got) != 0 {
		t.Fatalf("fired again after a restart: %+v", got)
	}
	if s := thousands(1234567); s != "1,234,567" {
		t.Error(s)
	}
}
