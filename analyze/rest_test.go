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

// TestRestartedDynoClimbingBackToItsPeers: a dyno restarted in the evening
// whose warm-up creeps on through the night on a trickle of requests, still
// below the level its warmed-up peers hold, is not leaking; the same rise
// carried past its peers is.
func TestRestartedDynoClimbingBackToItsPeers(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 5))
	for trial := 0; trial < 20; trial++ {
		// 15 busy minutes after the boot, then a night of under a
		// request a minute.
		var reqs []Count
		for m := 0; m <= 4*60; m++ {
			n := rng.IntN(2)
			if m < 15 {
				n = 10 + rng.IntN(10)
			}
			reqs = append(reqs, Count{T: t0.Add(time.Duration(m) * time.Minute), N: n})
		}
		slope := 12 + rng.Float64()*10
		peerLevel := 280 + rng.Float64()*20
		pts := restSeries(rng, 4*time.Hour, 2, func(h float64) float64 { return 200 + 20*min(h*4, 1) + slope*h })
		peer := restSeries(rng, 4*time.Hour, 2, func(h float64) float64 { return peerLevel })
		end := pts[len(pts)-1].T
		peers := []Boot{{Dyno: "web.2", Points: peer}, {Dyno: "worker.1", Points: restSeries(rng, 4*time.Hour, 2, func(float64) float64 { return 480 })}}
		b := Boot{Dyno: "web.1", Points: pts, QuotaMB: 512, Started: t0, Requests: reqs}
		b.PeerFloorMB = PeerFloor(b.Dyno, b.Started, end, peers)
		if b.PeerFloorMB < peerLevel-10 || b.PeerFloorMB > peerLevel {
			t.Fatalf("peer floor %.0f, peer at %.0f (the worker is no peer)", b.PeerFloorMB, peerLevel)
		}
		top := 220 + slope*4
		r := AnalyzeBoot(b, BootOptions{Now: true})
		switch {
		case top < peerLevel-10 && r.Verdict == Leak:
			t.Errorf("trial %d: at %.0f MB, below its peer at %.0f: judged a leak: %s", trial, top, peerLevel, r.Reason)
		case top > peerLevel+20 && r.Verdict != Leak:
			t.Errorf("trial %d: rose at %.0f MB/h to %.0f MB, past its peer at %.0f: %s (%s)", trial, slope, top, peerLevel, r.Verdict, r.Reason)
		}
		// Without peers, the same climb is judged on its own: a leak.
		b.PeerFloorMB = 0
		if r := AnalyzeBoot(b, BootOptions{Now: true}); r.Verdict != Leak {
			t.Errorf("trial %d: no peers: %s (%s)", trial, r.Verdict, r.Reason)
		}
	}
}

// TestSlowSawtoothAcrossQuietStretches: a GC cycle of 85 minutes whose
// drops fall in the busy minutes between quiet stretches: each stretch
// sees only a climb, and their climbs together outgrow one drop. Still no
// leak: each stretch may hold a cycle's climb.
func TestSlowSawtoothAcrossQuietStretches(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const period, busyAt, busyFor = 85.0, 75, 10 // minutes
	var reqs []Count
	for m := 0; m <= 3*85; m++ {
		n := rng.IntN(2)
		if m%85 >= busyAt && m%85 < busyAt+busyFor {
			n = 20 + rng.IntN(20)
		}
		reqs = append(reqs, Count{T: t0.Add(time.Duration(m) * time.Minute), N: n})
	}
	// The drops come 5 minutes into each busy stretch.
	pts := restSeries(rng, 3*85*time.Minute, 1.5, func(h float64) float64 {
		return 300 + sawtooth(h, period, 5/period, 30)
	})
	r := AnalyzeBoot(Boot{Dyno: "web.1", Points: pts, QuotaMB: 512, Requests: reqs}, BootOptions{})
	if r.Verdict == Leak {
		t.Fatalf("judged a leak: %s (%+v)", r.Reason, r.AtRest)
	}
	if r.AtRest == nil || len(r.AtRest.Stretches) < 2 || r.AtRest.RiseMB < 30 {
		t.Fatalf("the case is not the one meant: %+v", r.AtRest)
	}
}

// TestFallThenJumpsIsNoLeak: memory at rest that falls slowly, then jumps
// up twice (a cache filled at once), rises between its first samples and
// its last but does not keep rising: no leak, whatever the seed.
func TestFallThenJumpsIsNoLeak(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 3))
	for trial := 0; trial < 20; trial++ {
		fall := 8 + rng.Float64()*4
		j1, j2 := 1.5+rng.Float64(), 2.5+rng.Float64()
		up1, up2 := 30+rng.Float64()*40, 30+rng.Float64()*60
		pts := restSeries(rng, 3*time.Hour+30*time.Minute, 1+rng.Float64()*2, func(h float64) float64 {
			v := 350 - fall*h
			if h > j1 {
				v += up1
			}
			if h > j2 {
				v += up2
			}
			return v
		})
		for _, now := range []bool{false, true} {
			r := AnalyzeBoot(Boot{Dyno: "web.1", Points: pts, QuotaMB: 512, Started: t0.Add(-time.Hour)}, BootOptions{Now: now})
			if r.Verdict == Leak {
				t.Errorf("falls %.0f MB/h, jumps %.0f MB at %.1f h and %.0f MB at %.1f h: judged a leak: %s", fall, up1, j1, up2, j2, r.Reason)
			}
		}
	}
}

// TestGapsAtRestKeepTheStretch: samples lost on the way (gaps of up to 10
// minutes) while the dyno's router lines say it was at rest do not cut its
// quiet time into pieces; a gap while it was busy does.
func TestGapsAtRestKeepTheStretch(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	var pts []Point
	for _, p := range restSeries(rng, 3*time.Hour, 2, func(h float64) float64 { return 250 + 30*h }) {
		if m := p.T.Sub(t0).Minutes(); int(m)%20 >= 12 { // 8 minutes of every 20 lost
			continue
		}
		pts = append(pts, p)
	}
	var reqs []Count
	for m := 0; m < 180; m++ {
		reqs = append(reqs, Count{T: t0.Add(time.Duration(m) * time.Minute), N: 1})
	}
	b := Boot{Dyno: "web.1", Points: pts, QuotaMB: 512, Started: t0.Add(-time.Hour), Requests: reqs}
	st := quietStretches(b, t0, BootOptions{}.withDefaults())
	if len(st) != 1 || st[0][len(st[0])-1].T.Sub(st[0][0].T) < 170*time.Minute {
		t.Fatalf("at rest throughout, 8-minute gaps: %d stretches", len(st))
	}
	// Busy (30 requests a minute) during one gap: the stretch ends there.
	for m := 72; m < 80; m++ {
		reqs[m].N = 30
	}
	if st := quietStretches(b, t0, BootOptions{}.withDefaults()); len(st) != 2 {
		t.Errorf("busy in one gap: %d stretches, want 2", len(st))
	}
}
