package rollup

import (
	"math"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
)

// What both backends' request queries share: which rollup rows cover a
// range, and the percentiles of a merged sketch.

// Ranges splits [since, until) into whole hours — read from hour
// rows, plus the minute rows of those hours not folded yet — and the minutes
// at either edge, read from minute rows: a day is 24 rows a group, not 1440.
func Ranges(since, until time.Time) (hours bool, hourFrom, hourTo time.Time, minutes [][2]time.Time) {
	hourFrom = since
	if !since.IsZero() {
		hourFrom = since.Truncate(time.Hour)
		if hourFrom.Before(since) {
			hourFrom = hourFrom.Add(time.Hour)
		}
	}
	hourTo = until
	if !until.IsZero() {
		hourTo = until.Truncate(time.Hour)
	}
	if !hourFrom.IsZero() && !hourTo.IsZero() && !hourFrom.Before(hourTo) {
		// Within one hour: minutes only.
		return false, time.Time{}, time.Time{}, [][2]time.Time{{since, until}}
	}
	if !since.IsZero() && since.Before(hourFrom) {
		minutes = append(minutes, [2]time.Time{since, hourFrom})
	}
	if !until.IsZero() && hourTo.Before(until) {
		minutes = append(minutes, [2]time.Time{hourTo, until})
	}
	return true, hourFrom, hourTo, minutes
}

// Quantiles returns p50, p95 and p99 of a sketch, rounded to 0.1 ms.
func Quantiles(s *ddsketch.DDSketch) (p50, p95, p99 float64) {
	if s.IsEmpty() {
		return 0, 0, 0
	}
	v, err := s.GetValuesAtQuantiles([]float64{0.5, 0.95, 0.99})
	if err != nil {
		return 0, 0, 0
	}
	r := func(x float64) float64 { return math.Round(x*10) / 10 }
	return r(v[0]), r(v[1]), r(v[2])
}
