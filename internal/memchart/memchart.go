// Package memchart groups a dyno's memory samples into time buckets for the
// two charts that draw them: the terminal's (`drainwatch mem --chart`) and
// the dashboard's. Both draw the same points, so they show the same peaks
// and the same restarts.
package memchart

import (
	"math"
	"time"

	"github.com/drainwatch/drainwatch/store"
)

// Point is one bucket of one boot: the highest of each figure in it.
type Point struct {
	T                time.Time // the bucket's start
	Total, RSS, Swap float64   // MB; RSS and swap 0 when not reported
	Boot             string
}

// Buckets groups samples (oldest first, none before since) into buckets of
// step counted from since, one point a bucket and boot: a restart inside a bucket gives two
// points, the old boot's and the new one's, so that it is not lost. Samples
// without memory_total are left out.
func Buckets(samples []store.MemorySample, since time.Time, step time.Duration) []Point {
	step = max(step, time.Nanosecond)
	var out []Point
	for _, s := range samples {
		if s.TotalMB == nil {
			continue
		}
		t := since.Add(s.Time.Sub(since) / step * step)
		rss, swap := 0.0, 0.0
		if s.RSSMB != nil {
			rss = *s.RSSMB
		}
		if s.SwapMB != nil {
			swap = *s.SwapMB
		}
		if n := len(out); n > 0 && out[n-1].T.Equal(t) && out[n-1].Boot == s.Boot {
			p := &out[n-1]
			p.Total = math.Max(p.Total, *s.TotalMB)
			p.RSS = math.Max(p.RSS, rss)
			p.Swap = math.Max(p.Swap, swap)
			continue
		}
		out = append(out, Point{T: t, Total: *s.TotalMB, RSS: rss, Swap: swap, Boot: s.Boot})
	}
	return out
}

// Restarts are the indexes of the points whose boot differs from the point
// before them.
func Restarts(pts []Point) []int {
	var out []int
	for i := 1; i < len(pts); i++ {
		if pts[i].Boot != pts[i-1].Boot {
			out = append(out, i)
		}
	}
	return out
}

// Quota is the last memory quota the samples report, 0 if none does.
func Quota(samples []store.MemorySample) float64 {
	for i := len(samples) - 1; i >= 0; i-- {
		if q := samples[i].QuotaMB; q != nil {
			return *q
		}
	}
	return 0
}
