package analyze

import (
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// series samples f every 20 s (as runtime metrics do) for d, with noise of
// ±noise MB from a fixed seed.
func series(d time.Duration, noise float64, f func(h float64) float64) []Point {
	rng := rand.New(rand.NewPCG(1, 2))
	var pts []Point
	for t := time.Duration(0); t <= d; t += 20 * time.Second {
		n := (rng.Float64()*2 - 1) * noise
		pts = append(pts, Point{T: t0.Add(t), MB: f(t.Hours()) + n})
	}
	return pts
}

func TestTheilSenIgnoresOutliers(t *testing.T) {
	pts := series(3*time.Hour, 0, func(h float64) float64 { return 200 + 10*h })
	for i := 0; i < len(pts); i += 25 {
		pts[i].MB += 300 // GC spikes
	}
	if s := TheilSen(pts); math.Abs(s-10) > 0.5 {
		t.Errorf("slope %v, want 10", s)
	}
}

func TestMannKendall(t *testing.T) {
	up := series(time.Hour, 1, func(h float64) float64 { return 100 + 20*h })
	if z, p := MannKendall(up); z < 5 || p > 1e-6 {
		t.Errorf("rising: z=%v p=%v", z, p)
	}
	flat := series(time.Hour, 5, func(h float64) float64 { return 100 })
	if _, p := MannKendall(flat); p < 0.01 {
		t.Errorf("flat noise called rising: p=%v", p)
	}
	// All ties: no trend, no division by zero.
	same := series(time.Hour, 0, func(h float64) float64 { return 100 })
	if z, p := MannKendall(same); z != 0 || p != 1 {
		t.Errorf("constant: z=%v p=%v", z, p)
	}
}

func TestTrendVerdicts(t *testing.T) {
	tests := []struct {
		name   string
		pts    []Point
		want   Verdict
		slope  float64 // expected MB/h, if > 0
		within float64
	}{
		{"linear leak", series(3*time.Hour, 4, func(h float64) float64 { return 250 + 20*h }), Leak, 20, 2},
		{"slow leak", series(3*time.Hour, 2, func(h float64) float64 { return 250 + 8*h }), Leak, 8, 1.5},
		{"asymptotic bloat", series(3*time.Hour, 3, func(h float64) float64 { return 250 + 150*(1-math.Exp(-h/0.4)) }), Bloat, 0, 0},
		{"bloat that levels off late", series(3*time.Hour, 3, func(h float64) float64 { return 250 + 100*math.Min(h, 1.5) }), Bloat, 0, 0},
		{"noisy flat", series(3*time.Hour, 15, func(h float64) float64 { return 300 }), Stable, 0, 0},
		{"falling", series(3*time.Hour, 3, func(h float64) float64 { return 400 - 10*h }), Stable, 0, 0},
		{"tiny rise below the minimum", series(3*time.Hour, 1, func(h float64) float64 { return 300 + 2*h }), Stable, 0, 0},
		{"leak that starts late", series(3*time.Hour, 3, func(h float64) float64 { return 250 + 30*math.Max(h-1, 0) }), Leak, 0, 0},
		{"too short", series(30*time.Minute, 1, func(h float64) float64 { return 250 + 100*h }), InsufficientData, 0, 0},
		{"too few samples", series(3*time.Hour, 1, func(h float64) float64 { return 250 + 20*h })[:10], InsufficientData, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Trend(tt.pts, Options{})
			if r.Verdict != tt.want {
				t.Fatalf("verdict %s (%s), want %s; slope %.1f early %.1f late %.1f p %.3g",
					r.Verdict, r.Reason, tt.want, r.Slope, r.EarlySlope, r.LateSlope, r.P)
			}
			if tt.slope > 0 && math.Abs(r.Slope-tt.slope) > tt.within {
				t.Errorf("slope %.2f, want %.1f±%.1f", r.Slope, tt.slope, tt.within)
			}
		})
	}
}

// TestSeedMemOverTime runs the trend test on a published perf:mem_over_time
// series (testdata/mem_over_time.txt): it rises, levels off, and drops —
// bloat, not a leak.
func TestSeedMemOverTime(t *testing.T) {
	raw, err := os.ReadFile("testdata/mem_over_time.txt")
	if err != nil {
		t.Fatal(err)
	}
	var pts []Point
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		mb, err := strconv.ParseFloat(line, 64)
		if err != nil {
			t.Fatalf("bad sample %q: %v", line, err)
		}
		// One sample every 5 minutes, so the series is long enough to judge.
		pts = append(pts, Point{T: t0.Add(time.Duration(len(pts)) * 5 * time.Minute), MB: mb})
	}
	if len(pts) != 37 || pts[0].MB != 213.2734375 {
		t.Fatalf("read %d samples, first %v", len(pts), pts)
	}
	r := Trend(pts, Options{})
	if r.Verdict == Leak {
		t.Fatalf("seed series judged a leak: %+v", r)
	}
	if r.Verdict != Bloat {
		t.Errorf("verdict %s (%s), want bloat", r.Verdict, r.Reason)
	}
}

func perMinute(from time.Time, d time.Duration, rpm int) []Count {
	var c []Count
	for t := from.Truncate(time.Minute); !t.After(from.Add(d)); t = t.Add(time.Minute) {
		c = append(c, Count{T: t, N: rpm})
	}
	return c
}

func TestAnalyzeBoot(t *testing.T) {
	leak := series(3*time.Hour, 3, func(h float64) float64 { return 250 + 20*h })

	// A web dyno leaking at rest (2 requests a minute).
	r := AnalyzeBoot(Boot{App: "a", Dyno: "web.1", Boot: "b1", Points: leak, QuotaMB: 512, Requests: perMinute(t0, 3*time.Hour, 2)}, BootOptions{})
	if r.Verdict != Leak || r.WholeWindow || r.RestShare != 1 {
		t.Fatalf("at rest: %+v", r)
	}
	// 512 - 310 at 20 MB/h: about 10 h to the quota.
	if r.HoursToQuota == nil || math.Abs(*r.HoursToQuota-10.1) > 1 {
		t.Errorf("hours to quota %v", r.HoursToQuota)
	}
	if math.Abs(r.PeakShare-r.PeakMB/512) > 1e-9 || r.PeakMB < 305 {
		t.Errorf("peak %v share %v", r.PeakMB, r.PeakShare)
	}

	// The same rise under steady heavy traffic is not called a leak; with
	// traffic that never changes, requests cannot explain it either.
	r = AnalyzeBoot(Boot{Dyno: "web.1", Points: leak, QuotaMB: 512, Requests: perMinute(t0, 3*time.Hour, 600)}, BootOptions{})
	if r.Verdict != Rising || r.RestShare != 0 || !strings.Contains(r.Reason, "busy") || r.HoursToQuota == nil {
		t.Errorf("busy: %+v", r)
	}
	// Busy for the first 20 minutes only: still mostly at rest.
	r = AnalyzeBoot(Boot{Dyno: "web.1", Points: leak, Requests: perMinute(t0, 20*time.Minute, 600)}, BootOptions{})
	if r.Verdict != Leak || r.RestShare < 0.85 || r.RestShare > 0.9 {
		t.Errorf("mostly at rest: %v %.2f", r.Verdict, r.RestShare)
	}

	// A worker has no router traffic: judged on the whole window, and says so.
	r = AnalyzeBoot(Boot{Dyno: "worker.1", Points: leak}, BootOptions{})
	if r.Verdict != Leak || !r.WholeWindow || !strings.Contains(r.Reason, "whole window") || r.HoursToQuota != nil {
		t.Errorf("worker: %+v", r)
	}
	if r := AnalyzeBoot(Boot{Dyno: "web.1"}, BootOptions{}); r.Verdict != InsufficientData {
		t.Errorf("empty: %+v", r)
	}
}

// TestLeakUnderRestarts: a leak restarted every 2 h (R15, then a new boot)
// is a sawtooth. Each boot, judged alone, is a leak.
func TestLeakUnderRestarts(t *testing.T) {
	var boots [][]Point
	for b := 0; b < 4; b++ {
		start := time.Duration(b) * 2 * time.Hour
		pts := series(2*time.Hour-time.Minute, 3, func(h float64) float64 { return 220 + 150*h })
		for i := range pts {
			pts[i].T = pts[i].T.Add(start)
		}
		boots = append(boots, pts)
	}
	for i, pts := range boots {
		if r := AnalyzeBoot(Boot{Dyno: "worker.1", Points: pts, QuotaMB: 512}, BootOptions{}); r.Verdict != Leak {
			t.Errorf("boot %d: %s (%s)", i, r.Verdict, r.Reason)
		}
	}
}

func TestNthMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 1; n < 60; n++ {
		a := make([]float64, n)
		for i := range a {
			a[i] = float64(rng.IntN(10)) // many ties
		}
		sorted := append([]float64(nil), a...)
		sort.Float64s(sorted)
		for k := 0; k < n; k++ {
			b := append([]float64(nil), a...)
			if got := nth(b, k); got != sorted[k] {
				t.Fatalf("n=%d k=%d: %v, want %v", n, k, got, sorted[k])
			}
		}
	}
}

func BenchmarkAnalyzeBoot3h(b *testing.B) {
	pts := series(3*time.Hour, 3, func(h float64) float64 { return 250 + 20*h })
	for b.Loop() {
		AnalyzeBoot(Boot{Dyno: "worker.1", Points: pts, QuotaMB: 512}, BootOptions{})
	}
}

// A busy dyno that filled its caches in the first minutes of the window and
// sat there for hours is bloat, not stable: Trend sees a flat series.
func TestFastWarmUpThenFlatIsBloat(t *testing.T) {
	var pts []Point
	base := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	for i := 0; i < 4*180; i++ {
		mb := 560.0
		if i < 30 { // 10 minutes from 240 MB up to the plateau
			mb = 240 + float64(i)*320/30
		}
		mb += float64(i%9) * 2 // a small sawtooth
		pts = append(pts, Point{T: base.Add(time.Duration(i) * 20 * time.Second), MB: mb})
	}
	r := AnalyzeBoot(Boot{App: "a", Dyno: "worker.1", Boot: "b", QuotaMB: 512, Points: pts}, BootOptions{})
	if r.Verdict != Bloat {
		t.Fatalf("verdict %s (%s), want bloat", r.Verdict, r.Reason)
	}
}
