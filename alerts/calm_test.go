package alerts

import (
	"math"
	"strings"
	"testing"
	"time"
)

// A worker seen from the middle of its warm-up (its boot's start unknown),
// leaking 18 MB/h under a 30 MB GC sawtooth: the warm-up's rise is taken
// for the leak's at first, and once it levels off the verdict says
// "levelled off" for a while. One such verdict, on a GC drop, does not
// resolve the alert: only leakCalmFor of them in a row do.
func TestLeakResolvesOnlyAfterCalm(t *testing.T) {
	mb := func(h float64) float64 {
		x := h * 60 / 40
		return 250 + 60*(1-math.Exp(-h/0.25)) + 18*h + 30*(x-math.Floor(x))
	}
	got := feed(Config{}, memSeries("worker.1", "b1", t0, 6*time.Hour, 1, mb))
	var fired time.Time
	for _, a := range got {
		switch {
		case a.State == Firing:
			fired = a.Time
		case a.State == Resolved && strings.Contains(a.Summary, "levelled off"):
			if d := a.Time.Sub(fired); d < leakCalmFor {
				t.Errorf("resolved %s after firing: %s", d, a.Summary)
			}
		}
	}
	if fired.IsZero() {
		t.Fatalf("no leak alert: %v", rulesOf(got))
	}
}

// A web dyno's leak at rest stops while it is busy: verdicts judged while
// busy (memory flat with its traffic: stable or bloat) do not resolve the
// leak alert; calm verdicts once it is at rest again do.
func TestLeakResolvedOnlyByCalmAtRest(t *testing.T) {
	mb := func(h float64) float64 { return 250 + 20*min(h, 2.75) }
	obs := merge(
		memSeries("web.1", "b1", t0, 7*time.Hour, 2, mb),
		traffic("web.1", t0, 15*time.Minute, 60),
		traffic("web.1", t0.Add(15*time.Minute), 2*time.Hour+30*time.Minute, 1),
		traffic("web.1", t0.Add(2*time.Hour+45*time.Minute), 2*time.Hour+45*time.Minute, 60),
		traffic("web.1", t0.Add(5*time.Hour+30*time.Minute), 90*time.Minute, 1),
	)
	got := feed(Config{}, obs)
	expect(t, got, "leak:firing:web.1", "leak:resolved:web.1")
	if at := got[1].Time.Sub(t0); at < 5*time.Hour+30*time.Minute+leakCalmFor {
		t.Errorf("resolved at %s, before %s of calm at rest: %s", at, leakCalmFor, got[1].Summary)
	}
}
