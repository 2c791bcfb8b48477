package analyze

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// traffic simulates an app: dynos serving paths with random per-minute
// counts, memory sampled every 20 s, restarts every restartEvery. Each
// request of leaky adds leakMB; memory also drifts, and jumps by GC noise.
func traffic(seed uint64, dynos int, d, restartEvery time.Duration, leaky string, leakMB float64) ([]Boot, []PathCount) {
	rng := rand.New(rand.NewPCG(seed, 3))
	paths := []string{"/", "/users/:id", "/search", "/reports/export", "/api/items/:id", "/leaky/:id"}
	var boots []Boot
	var counts []PathCount
	for dy := 1; dy <= dynos; dy++ {
		dyno := fmt.Sprintf("web.%d", dy)
		var cur *Boot
		mem := 0.0
		perMinute := map[string]int{}
		for t := time.Duration(0); t < d; t += 20 * time.Second {
			now := t0.Add(t)
			if t%restartEvery == 0 {
				boots = append(boots, Boot{Dyno: dyno, Boot: fmt.Sprintf("%s-%d", dyno, t/restartEvery)})
				cur = &boots[len(boots)-1]
				mem = 250
			}
			if t%time.Minute == 0 {
				// A new minute: how many requests each path gets, busy and
				// quiet stretches alike.
				load := 0.3 + rng.Float64()*1.7
				for _, p := range paths {
					n := int(load * float64(5+rng.IntN(40)))
					perMinute[p] = n
					counts = append(counts, PathCount{Dyno: dyno, Path: p, T: now, N: n})
				}
			}
			// A third of each minute's requests fall in these 20 s.
			for p, n := range perMinute {
				if p == leaky {
					mem += leakMB * float64(n) / 3
				}
			}
			mem += 2.0 / 180 // 2 MB/h drift
			gc := (rng.Float64() - 0.5) * 6
			cur.Points = append(cur.Points, Point{T: now, MB: mem + gc})
		}
	}
	return boots, counts
}

func TestSuspectsFindsTheLeakyPath(t *testing.T) {
	const leak = 0.05 // MB per request: 50 MB per 1000
	boots, counts := traffic(1, 4, 6*time.Hour, 2*time.Hour, "/leaky/:id", leak)
	r := Suspects(boots, counts, SuspectOptions{})
	if r.Verdict != "suspects" || len(r.Suspects) == 0 {
		t.Fatalf("verdict %s (%s), %+v", r.Verdict, r.Reason, r.Suspects)
	}
	top := r.Suspects[0]
	if top.Path != "/leaky/:id" || !top.Named {
		t.Fatalf("top suspect %+v", top)
	}
	if math.Abs(top.MBPer1k-leak*1000)/(leak*1000) > 0.25 {
		t.Errorf("estimate %.1f MB/1k, truth %.1f", top.MBPer1k, leak*1000)
	}
	for _, s := range r.Suspects[1:] {
		if s.Named {
			t.Errorf("innocent path named: %+v", s)
		}
	}
	if top.T < 4 || r.R2 < 0.3 {
		t.Errorf("t %.2f, R² %.2f", top.T, r.R2)
	}
}

func TestSuspectsNamesNoOneWithoutALeak(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		boots, counts := traffic(seed, 4, 6*time.Hour, 2*time.Hour, "", 0)
		r := Suspects(boots, counts, SuspectOptions{})
		for _, s := range r.Suspects {
			if s.Named {
				t.Errorf("seed %d: %s named (%+v) with no leak", seed, s.Path, s)
			}
		}
		if r.Verdict != "none" {
			t.Errorf("seed %d: verdict %s", seed, r.Verdict)
		}
	}
}

func TestSuspectsNeedsData(t *testing.T) {
	boots, counts := traffic(1, 1, 30*time.Minute, 2*time.Hour, "/leaky/:id", 0.05)
	if r := Suspects(boots, counts, SuspectOptions{}); r.Verdict != "not enough data" || len(r.Suspects) != 0 {
		t.Errorf("small sample named %+v (%s)", r.Suspects, r.Verdict)
	}
	if r := Suspects(nil, nil, SuspectOptions{}); r.Verdict != "not enough data" {
		t.Errorf("nothing: %s", r.Verdict)
	}
}

// TestSuspectsSmallerLeak: 20 MB per 1000 requests, about 35 MB/h per dyno
// here, 7 MB per 10-minute window against GC noise of ±3 MB a sample: near
// what the fit can tell from noise with traffic this even. Over twelve
// histories it is named in some, nothing innocent is named in any, and
// the estimates are right on the whole.
func TestSuspectsSmallerLeak(t *testing.T) {
	const leak = 0.02
	named := 0
	var errs []float64
	for seed := uint64(1); seed <= 12; seed++ {
		boots, counts := traffic(seed, 4, 8*time.Hour, 2*time.Hour, "/leaky/:id", leak)
		r := Suspects(boots, counts, SuspectOptions{})
		for i, s := range r.Suspects {
			switch {
			case !s.Named:
			case s.Path != "/leaky/:id":
				t.Errorf("seed %d: innocent %s named: %+v", seed, s.Path, s)
			case i == 0:
				named++
				errs = append(errs, math.Abs(s.MBPer1k-20)/20)
			}
		}
	}
	if named < 3 {
		t.Errorf("named in %d of 12 histories", named)
	}
	if len(errs) > 0 && median(errs) > 0.3 {
		t.Errorf("estimates off by %v (median over 30%%)", errs)
	}
}

func TestCriticalT(t *testing.T) {
	for _, c := range []struct {
		clusters int
		lo, hi   float64
	}{{9, 7.4, 7.8}, {18, 5.1, 5.4}, {1000, 4.0, 4.05}} {
		if got := criticalT(4, c.clusters); got < c.lo || got > c.hi {
			t.Errorf("%d clusters: %.2f, want %.1f-%.1f", c.clusters, got, c.lo, c.hi)
		}
	}
	if !math.IsInf(criticalT(4, 1), 1) {
		t.Error("one cluster must name nothing")
	}
}
