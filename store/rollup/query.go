package rollup

import (
	"math"
	"sort"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/drainwatch/drainwatch/store"
)

// What both backends' request queries share: which rollup rows cover a
// range, the percentiles of a merged sketch, and the series buckets.

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

// SeriesFromMinutes reports whether a request series over [since, until)
// reads minute rows alone: they live 2 days, so when they reach back far
// enough, or the range is short; otherwise hour rows plus the minute rows
// not folded into them yet.
func SeriesFromMinutes(since, until time.Time) bool {
	return time.Since(since) < 47*time.Hour || until.Sub(since) <= 2*time.Hour
}

// Series sums request rollup rows, per dyno, into buckets of step from
// since: counts from the rows, the p95 service time from their sketches.
type Series struct {
	since   time.Time
	step    time.Duration
	buckets map[seriesKey]*seriesAcc
}

type seriesKey struct {
	dyno string
	b    int64
}

type seriesAcc struct {
	count int64
	s     *ddsketch.DDSketch
}

// NewSeries returns an empty series of buckets of step from since.
func NewSeries(since time.Time, step time.Duration) *Series {
	return &Series{since: since, step: step, buckets: map[seriesKey]*seriesAcc{}}
}

func (s *Series) key(dyno string, startMicros int64) seriesKey {
	return seriesKey{dyno, time.UnixMicro(startMicros).Sub(s.since).Nanoseconds() / int64(s.step)}
}

// Add counts the requests of a rollup row starting at startMicros.
func (s *Series) Add(dyno string, startMicros, count int64) {
	k := s.key(dyno, startMicros)
	a := s.buckets[k]
	if a == nil {
		a = &seriesAcc{s: NewSketch()}
		s.buckets[k] = a
	}
	a.count += count
}

// MergeService merges a row's encoded service-time sketch into its bucket,
// when the bucket has counts (Add first).
func (s *Series) MergeService(dyno string, startMicros int64, service []byte) error {
	if a := s.buckets[s.key(dyno, startMicros)]; a != nil && len(service) > 0 {
		return a.s.DecodeAndMergeWith(service)
	}
	return nil
}

// Points returns the buckets, by dyno and time.
func (s *Series) Points() []store.SeriesPoint {
	out := make([]store.SeriesPoint, 0, len(s.buckets))
	for k, a := range s.buckets {
		p := store.SeriesPoint{Dyno: k.dyno, T: s.since.Add(time.Duration(k.b) * s.step).UTC(), Count: a.count}
		if !a.s.IsEmpty() {
			if v, err := a.s.GetValueAtQuantile(0.95); err == nil {
				p.ServiceP95 = math.Round(v*10) / 10
			}
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Dyno != out[j].Dyno {
			return out[i].Dyno < out[j].Dyno
		}
		return out[i].T.Before(out[j].T)
	})
	return out
}
