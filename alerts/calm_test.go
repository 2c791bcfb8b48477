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
