// Package analyze tells a memory leak from bloat: robust trend statistics
// (Theil–Sen slope, Mann–Kendall test) over one dyno boot's memory samples, a
// levelling-off test, and at-rest gating. It is pure: no I/O, no clock.
package analyze

import (
	"math"
	"sort"
	"strconv"
	"time"
)

// Point is one memory sample.
type Point struct {
	T  time.Time
	MB float64
}

// maxPoints bounds the O(n²) statistics: longer series are thinned evenly
// first (a 3 h window at one sample per 20 s is 540 points; thinned to 240,
// one per 45 s, a Theil–Sen slope takes 29 k pairs instead of 145 k).
const maxPoints = 240

// thin returns at most maxPoints points, evenly spaced through pts.
func thin(pts []Point) []Point {
	if len(pts) <= maxPoints {
		return pts
	}
	out := make([]Point, maxPoints)
	for i := range out {
		out[i] = pts[i*(len(pts)-1)/(maxPoints-1)]
	}
	return out
}

// TheilSen returns the median of the slopes between all pairs of points, in
// MB per hour: a slope that a few outliers (a GC, a spike) cannot move.
func TheilSen(pts []Point) float64 {
	pts = thin(pts)
	if len(pts) < 2 {
		return 0
	}
	// Hours since the first point, computed once: time.Time.Sub in the
	// inner loop costs more than the division.
	xs := make([]float64, len(pts))
	for i, p := range pts {
		xs[i] = p.T.Sub(pts[0].T).Hours()
	}
	slopes := make([]float64, 0, len(pts)*(len(pts)-1)/2)
	for i := 0; i < len(pts); i++ {
		for j := i + 1; j < len(pts); j++ {
			if dt := xs[j] - xs[i]; dt > 0 {
				slopes = append(slopes, (pts[j].MB-pts[i].MB)/dt)
			}
		}
	}
	return median(slopes)
}

// median returns the median of a (reordering a), 0 for none.
func median(a []float64) float64 {
	n := len(a)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return nth(a, n/2)
	}
	hi := nth(a, n/2)
	// After nth, everything below n/2 is <= hi: the other middle value is
	// their maximum.
	lo := a[0]
	for _, v := range a[:n/2] {
		lo = max(lo, v)
	}
	return (lo + hi) / 2
}

// nth returns the k-th smallest value of a (reordering a), in linear
// expected time (quickselect): the median of 29 k slopes without sorting.
func nth(a []float64, k int) float64 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		p := a[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for a[i] < p {
				i++
			}
			for a[j] > p {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}

// MannKendall tests for a monotonic trend. It returns Z (positive for a
// rising series) and the one-sided p-value of "rising", with the normal
// approximation and the correction for ties.
func MannKendall(pts []Point) (z, pRising float64) {
	s, v := mkStat(pts)
	if v <= 0 {
		return 0, 1
	}
	switch {
	case s > 0:
		z = (s - 1) / math.Sqrt(v)
	case s < 0:
		z = (s + 1) / math.Sqrt(v)
	}
	return z, 0.5 * math.Erfc(z/math.Sqrt2)
}

// mkStat returns the Mann–Kendall statistic S of pts (thinned) and its
// variance with the correction for ties; 0, 0 for fewer than 3 points.
func mkStat(pts []Point) (s, v float64) {
	pts = thin(pts)
	n := len(pts)
	if n < 3 {
		return 0, 0
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			d := pts[j].MB - pts[i].MB
			switch {
			case d > 0:
				s++
			case d < 0:
				s--
			}
		}
	}
	// Variance with ties: n(n-1)(2n+5) - Σ t(t-1)(2t+5), over 18.
	vals := make([]float64, n)
	for i, p := range pts {
		vals[i] = p.MB
	}
	sort.Float64s(vals)
	ties := 0.0
	for i := 0; i < n; {
		j := i
		for j < n && vals[j] == vals[i] {
			j++
		}
		if t := float64(j - i); t > 1 {
			ties += t * (t - 1) * (2*t + 5)
		}
		i = j
	}
	nf := float64(n)
	return s, (nf*(nf-1)*(2*nf+5) - ties) / 18
}

// Verdict is what a series says.
type Verdict string

// Verdicts.
const (
	Leak             Verdict = "leak"              // keeps rising, about as fast late as early
	Bloat            Verdict = "bloat"             // rose, then levelled off
	Stable           Verdict = "stable"            // no significant rise
	InsufficientData Verdict = "insufficient-data" // too short or too few samples
	// GrowsWithTraffic: a busy dyno whose memory rises with the requests it
	// serves (Report.Traffic says how much per 1000).
	GrowsWithTraffic Verdict = "grows-with-traffic"
	// Rising: memory keeps rising, but neither at rest nor with requests.
	Rising Verdict = "rising"
)

// Options tune Trend. Zero values take the defaults.
type Options struct {
	MinSlope    float64       // MB/h below which a rise does not count; default 5
	MinDuration time.Duration // shortest series judged; default 1h
	MinPoints   int           // fewest samples judged; default 30
	Alpha       float64       // significance of the Mann–Kendall test; default 0.01
	// LevelRatio: a leak's later half must rise at least this share of its
	// earlier half's rate; below it the curve is levelling off (bloat).
	// Default 0.5.
	LevelRatio float64
}

func (o Options) withDefaults() Options {
	if o.MinSlope <= 0 {
		o.MinSlope = 5
	}
	if o.MinDuration <= 0 {
		o.MinDuration = time.Hour
	}
	if o.MinPoints <= 0 {
		o.MinPoints = 30
	}
	if o.Alpha <= 0 {
		o.Alpha = 0.01
	}
	if o.LevelRatio <= 0 {
		o.LevelRatio = 0.5
	}
	return o
}

// TrendResult is the trend of one series.
type TrendResult struct {
	Verdict    Verdict
	Slope      float64 // MB/h, whole series (Theil–Sen)
	EarlySlope float64 // MB/h, first half
	LateSlope  float64 // MB/h, second half
	P          float64 // Mann–Kendall p-value of "rising", whole series
	Points     int
	Duration   time.Duration
	Reason     string
}

// Trend judges a series of memory samples, sorted by time, from one boot.
func Trend(pts []Point, o Options) TrendResult {
	o = o.withDefaults()
	r := TrendResult{Points: len(pts)}
	if len(pts) > 0 {
		r.Duration = pts[len(pts)-1].T.Sub(pts[0].T)
	}
	// n samples cover their span plus one sampling interval: 180 samples
	// 20 s apart are an hour of history.
	covered := r.Duration
	if len(pts) > 1 {
		covered += r.Duration / time.Duration(len(pts)-1)
	}
	if len(pts) < o.MinPoints || covered < o.MinDuration {
		r.Verdict = InsufficientData
		r.Reason = "too little history: need " + o.MinDuration.String() + " and " + strconv.Itoa(o.MinPoints) + " samples"
		return r
	}
	r.Slope = TheilSen(pts)
	_, r.P = MannKendall(pts)
	half := len(pts) / 2
	r.EarlySlope = TheilSen(pts[:half])
	r.LateSlope = TheilSen(pts[half:])
	_, earlyP := MannKendall(pts[:half])
	_, lateP := MannKendall(pts[half:])
	rising := r.P <= o.Alpha && r.Slope >= o.MinSlope
	earlyRising := earlyP <= o.Alpha && r.EarlySlope >= o.MinSlope
	switch {
	case !rising && earlyRising:
		r.Verdict = Bloat
		r.Reason = "rose, then levelled off or fell back"
	case !rising:
		r.Verdict = Stable
		r.Reason = "no significant rise"
	case r.LateSlope >= o.MinSlope && lateP <= o.Alpha && r.LateSlope >= o.LevelRatio*r.EarlySlope:
		r.Verdict = Leak
		r.Reason = "keeps rising: the later half rises as fast as the earlier"
	default:
		r.Verdict = Bloat
		r.Reason = "rose, then levelled off"
	}
	return r
}
