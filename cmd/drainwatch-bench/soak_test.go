package main

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/analyze"
)

// The bench's leak test of the daemon's own RSS: flat after the warm-up is
// stable, a steady climb is a leak, a short run is not judged.
func TestRSSReport(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	series := func(d time.Duration, mb func(s float64) float64) []analyze.Point {
		var pts []analyze.Point
		for s := 0; s <= int(d.Seconds()); s++ {
			pts = append(pts, analyze.Point{T: t0.Add(time.Duration(s) * time.Second), MB: mb(float64(s))})
		}
		return pts
	}
	wobble := func(s float64) float64 { return 0.8 * math.Sin(s/7) }
	for _, tc := range []struct {
		name string
		pts  []analyze.Point
		want string
	}{
		{"flat after warm-up", series(10*time.Minute, func(s float64) float64 {
			return 40 + 8*math.Min(s/60, 1) + wobble(s) // fills up in the first minute
		}), "own RSS after the first 1m0s: stable"},
		{"climbing", series(10*time.Minute, func(s float64) float64 { return 40 + s/60 + wobble(s) }), // 60 MB/h
			"own RSS after the first 1m0s: leak"},
		{"short", series(20*time.Second, func(s float64) float64 { return 40 }), "needs --duration 5m10s or more"},
	} {
		got := rssReport(tc.pts)
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q does not say %q", tc.name, got, tc.want)
		}
		if !strings.Contains(got, "RSS through the run:") {
			t.Errorf("%s: no RSS columns in %q", tc.name, got)
		}
	}
}
