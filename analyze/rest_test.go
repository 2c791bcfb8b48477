package analyze

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// restSeries samples memory every 20 s (±1 s jitter) for d from t0, with
// f(h) plus Gaussian noise of sd noise MB.
func restSeries(rng *rand.Rand, d time.Duration, noise float64, f func(h float64) float64) []Point {
	var pts []Point
	for t := time.Duration(0); t <= d; t += 20 * time.Second {
		at := t + time.Duration(rng.IntN(2000)-1000)*time.Millisecond
		pts = append(pts, Point{T: t0.Add(at), MB: f(at.Hours()) + rng.NormFloat64()*noise})
	}
	return pts
}

// sawtooth rises amp MB over each period, then falls back (a GC).
func sawtooth(h, periodMin, phase, amp float64) float64 {
	x := h*60/periodMin + phase
	return amp * (x - math.Floor(x))
}

// TestGCSawtoothAtRestIsNoLeak: a dyno at rest whose memory rises and falls
// back with a garbage collector, of any period from 2 minutes to an hour,
// is never called a leak, on a web dyno at rest or a worker, whatever the
// phase and noise.
func TestGCSawtoothAtRestIsNoLeak(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 1))
	for _, period := range []float64{2, 5, 10, 20, 30, 45, 60, 80, 90} {
		for trial := 0; trial < 10; trial++ {
			phase, amp := rng.Float64(), 20+rng.Float64()*20
			d := time.Duration(60+rng.IntN(120)) * time.Minute
			pts := restSeries(rng, d, 1+rng.Float64()*4, func(h float64) float64 { return 300 + sawtooth(h, period, phase, amp) })
			for _, dyno := range []string{"web.1", "worker.1"} {
				r := AnalyzeBoot(Boot{Dyno: dyno, Points: pts, QuotaMB: 512, Started: t0.Add(-time.Hour)}, BootOptions{})
				if r.Verdict == Leak {
					t.Errorf("period %.0f min, amp %.0f, %s of quiet: %s judged a leak: %s", period, amp, d, dyno, r.Reason)
				}
			}
		}
	}
}

// TestLeakAtRestFoundWithinAnHour: memory rising 25-35 MB/h at rest, with a
// GC sawtooth on top, is a leak once 2 hours of it are in, with its slope
// within 25%.
func TestLeakAtRestFoundWithinAnHour(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for trial := 0; trial < 40; trial++ {
		slope := 25 + rng.Float64()*10
		period, phase, amp := 2+rng.Float64()*28, rng.Float64(), rng.Float64()*20
		pts := restSeries(rng, 2*time.Hour, 1+rng.Float64()*3, func(h float64) float64 {
			return 250 + slope*h + sawtooth(h, period, phase, amp)
		})
		r := AnalyzeBoot(Boot{Dyno: "web.1", Points: pts, QuotaMB: 512, Started: t0.Add(-time.Hour)}, BootOptions{})
		if r.Verdict != Leak {
			t.Errorf("%.0f MB/h with a %.0f-minute ±%.0f MB sawtooth: %s (%s)", slope, period, amp/2, r.Verdict, r.Reason)
			continue
		}
		if math.Abs(r.SlopeMBPerHour-slope)/slope > 0.25 {
			t.Errorf("slope %.1f, truth %.1f", r.SlopeMBPerHour, slope)
		}
	}
}

// TestBloatUnderLoadThenRest: memory that rises while busy (a warm-up, or a
// burst's bloat) and stays flat at rest is not a leak, however the busy and
// quiet stretches alternate.
func TestBloatUnderLoadThenRest(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	for trial := 0; trial < 40; trial++ {
		// Busy for 10-40 minutes every 40-120 minutes; memory grows only
		// while busy, approaching a plateau.
		var reqs []Count
		busyFor, every := 10+rng.IntN(30), 40+rng.IntN(80)
		served := 0.0
		perMin := map[int]float64{}
		for m := 0; m <= 6*60; m++ {
			n := rng.IntN(2)
			if m%every < busyFor {
				n = 30 + rng.IntN(60)
			}
			reqs = append(reqs, Count{T: t0.Add(time.Duration(m) * time.Minute), N: n})
			served += float64(n)
			perMin[m] = served
		}
		scale := 500 + rng.Float64()*3000
		pts := restSeries(rng, 6*time.Hour, 2+rng.Float64()*3, func(h float64) float64 {
			return 200 + 200*(1-math.Exp(-perMin[int(h*60)]/scale))
		})
		r := AnalyzeBoot(Boot{Dyno: "web.1", Points: pts, QuotaMB: 512, Requests: reqs}, BootOptions{})
		if r.Verdict == Leak {
			t.Errorf("trial %d (busy %d of every %d min): judged a leak: %s", trial, busyFor, every, r.Reason)
		}
	}
}
