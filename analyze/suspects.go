package analyze

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// PathCount is how many requests for one path template a dyno served in the
// minute starting at T.
type PathCount struct {
	Dyno string
	Path string
	T    time.Time
	N    int
}

// SuspectOptions tune Suspects. Zero values take the defaults.
type SuspectOptions struct {
	Window     time.Duration // memory change is measured over windows this long; default 10m
	WarmUp     time.Duration // windows this soon after a boot's first sample are left out; default 20m
	MinWindows int           // fewer windows give no names; default 30
	MaxPaths   int           // paths fitted one by one, by requests; the rest are "(other)"; default 30
	// MinT: a path is named only when its requests cost more than the
	// average request by as many (cluster-robust) standard errors as a
	// normal z of MinT would be improbable. Default 4: up to MaxPaths are
	// tried, and windows of one dyno's hour are correlated. With few
	// clusters (dyno-hours) the statistic follows Student's t with one
	// fewer degrees of freedom than clusters, so the bar is higher
	// (criticalT): about 5.3 with 18 clusters, 7.6 with 9.
	MinT       float64
	MinMBPer1k float64 // and at least this many MB per 1000 requests; default 0.5
	MinShare   float64 // and explains at least this share of the memory growth; default 0.1
	MinR2      float64 // and the fit explains at least this share of the variance; default 0.05
	// MaxFallMBPerH: a fit whose drift (memory change with no requests)
	// falls clearly faster than this (by two standard errors) is not
	// physical: it names nothing. Default 10.
	MaxFallMBPerH float64
}

func (o SuspectOptions) withDefaults() SuspectOptions {
	if o.Window <= 0 {
		o.Window = 10 * time.Minute
	}
	if o.WarmUp <= 0 {
		o.WarmUp = 20 * time.Minute
	}
	if o.MinWindows <= 0 {
		o.MinWindows = 30
	}
	if o.MaxPaths <= 0 {
		o.MaxPaths = 30
	}
	if o.MinT <= 0 {
		o.MinT = 4
	}
	if o.MinMBPer1k <= 0 {
		o.MinMBPer1k = 0.5
	}
	if o.MinShare <= 0 {
		o.MinShare = 0.1
	}
	if o.MinR2 <= 0 {
		o.MinR2 = 0.05
	}
	if o.MaxFallMBPerH <= 0 {
		o.MaxFallMBPerH = 10
	}
	return o
}

// OtherPaths is the row that stands for the paths beyond SuspectOptions.MaxPaths.
const OtherPaths = "(other)"

// Suspect is a path template whose requests may go with memory growth.
type Suspect struct {
	Path     string  `json:"path"`
	MBPer1k  float64 `json:"mb_per_1k_requests"` // memory per 1000 of its requests
	Requests int64   `json:"requests"`
	GrowthMB float64 `json:"growth_mb"` // MBPer1k × Requests / 1000
	// T is how many standard errors its requests cost above the average
	// request's.
	T     float64 `json:"t_stat"`
	Dynos int     `json:"dynos"` // dynos that served it in the windows
	Named bool    `json:"named"` // passes every test: a suspect worth naming
	Why   string  `json:"why"`   // why it is named, or the test it failed
}

// SuspectReport is the outcome of a fit.
type SuspectReport struct {
	Windows     int     `json:"windows"`
	Dynos       int     `json:"dynos"`
	Paths       int     `json:"paths"`
	GrowthMB    float64 `json:"growth_mb"`         // sum of positive memory changes over all windows
	DriftMBPerH float64 `json:"drift_mb_per_hour"` // growth with no requests
	// PerRequestMBPer1k is what an average request costs, all paths alike.
	PerRequestMBPer1k float64   `json:"all_requests_mb_per_1k"`
	R2                float64   `json:"r2"`
	Verdict           string    `json:"verdict"` // "suspects", "none", "not enough data"
	Reason            string    `json:"reason"`
	Suspects          []Suspect `json:"suspects"` // named ones first, then the other candidates
	MinT              float64   `json:"min_t_stat"`
	Window            string    `json:"window"`
}

// Suspects looks for the request paths that make memory grow, across every
// boot of every dyno of an app. Memory change over each window (never
// across a restart, never in a boot's warm-up) is fitted as drift × hours +
// cost × all requests; then, one at a time, paths whose requests cost
// clearly more than the average request are added (forward selection on
// cluster-robust t statistics). A path is named only when the evidence
// holds everywhere: its extra cost stays when any one dyno's windows are
// left out (or either half of the time, with one dyno), it is positive on
// every dyno that served a tenth of its requests, and the fit explains a
// real share of the growth with a drift that is physically plausible. When
// growth is a level shift, a warm-up, or moves with all traffic alike,
// nothing is named.
func Suspects(boots []Boot, counts []PathCount, o SuspectOptions) SuspectReport {
	o = o.withDefaults()
	ds := buildDesign(boots, counts, o)
	r := SuspectReport{Windows: len(ds.y), Dynos: len(ds.dynoNames), Paths: ds.allPaths, GrowthMB: ds.growth,
		MinT: o.MinT, Window: o.Window.String(), Suspects: []Suspect{}}
	if len(ds.y) < o.MinWindows || len(ds.paths) == 0 {
		r.Verdict = "not enough data"
		r.Reason = fmt.Sprintf("%d memory windows with router traffic (%d needed): runtime metrics and router lines of the same dynos are needed", len(ds.y), o.MinWindows)
		return r
	}
	r.MinT = criticalT(o.MinT, ds.clusterCount())
	base, ok := ols(ds.columns(nil), ds.y, ds.clusters)
	if !ok {
		r.Verdict, r.Reason = "none", "requests and time move together: no fit"
		return r
	}
	sel := ds.selectPaths(r.MinT, o)
	final := base
	if len(sel.paths) > 0 {
		final, _ = ols(ds.columns(sel.paths), ds.y, ds.clusters)
	}
	r.DriftMBPerH = final.beta[0]
	r.PerRequestMBPer1k = base.beta[1] * 1000
	r.R2 = rSquared(ds.columns(sel.paths), ds.y, final.beta)
	gate := ds.gate(r, final, o)
	for c, path := range ds.paths {
		if path == OtherPaths {
			continue
		}
		if s := ds.suspect(c, sel, final, gate, r.MinT, o); s.Named || s.MBPer1k > 0 {
			r.Suspects = append(r.Suspects, s)
		}
	}
	sort.SliceStable(r.Suspects, func(i, j int) bool {
		a, b := r.Suspects[i], r.Suspects[j]
		if a.Named != b.Named {
			return a.Named
		}
		return a.MBPer1k > b.MBPer1k
	})
	switch {
	case len(r.Suspects) > 0 && r.Suspects[0].Named:
		r.Verdict, r.Reason = "suspects", "memory grows with these paths' requests, more than with the others'"
	case gate != "":
		r.Verdict, r.Reason = "none", "no path is named: "+gate
	case r.PerRequestMBPer1k >= o.MinMBPer1k:
		r.Verdict, r.Reason = "none", fmt.Sprintf("memory grows with traffic as a whole (%.2f MB per 1000 requests), no path more than the others", r.PerRequestMBPer1k)
	default:
		r.Verdict, r.Reason = "none", "no path's requests go with memory growth confidently enough to name it"
	}
	return r
}

// selection is the outcome of the forward selection: the paths added to the
// fit in order, why each path left out was (when it was tried and failed a
// test), and each path's last t statistic.
type selection struct {
	paths    []int
	rejected map[int]string
	lastT    []float64
}

// selectPaths adds, one at a time, the path whose requests cost the most
// standard errors more than the average request, while that is at least
// minT and the effect holds without any one dyno (robust).
func (ds *design) selectPaths(minT float64, o SuspectOptions) selection {
	sel := selection{rejected: map[int]string{}, lastT: make([]float64, len(ds.paths))}
	for {
		best, bestT := -1, 0.0
		for c := range ds.paths {
			if ds.paths[c] == OtherPaths || sel.rejected[c] != "" || slices.Contains(sel.paths, c) {
				continue
			}
			if n := ds.windowsWith(c); n < minPathWindows {
				sel.rejected[c] = fmt.Sprintf("requested in %d windows (%d needed to tell its effect from noise)", n, minPathWindows)
				continue
			}
			f, ok := ols(ds.columns(append(sel.paths, c)), ds.y, ds.clusters)
			if !ok {
				sel.rejected[c] = "its requests move with the others': its own effect cannot be told apart"
				continue
			}
			t := f.tDiff(len(f.beta)-1, 1)
			sel.lastT[c] = t
			if t > bestT {
				best, bestT = c, t
			}
		}
		if best < 0 || bestT < minT {
			return sel
		}
		if why := ds.robust(sel.paths, best, o); why != "" {
			sel.rejected[best] = why
			continue
		}
		sel.paths = append(sel.paths, best)
	}
}

// gate is why the final fit names nothing whatever its paths' statistics
// ("" when it may): it explains too little, needs memory to vanish at
// rest, or memory did not grow.
func (ds *design) gate(r SuspectReport, final fit, o SuspectOptions) string {
	switch {
	case r.R2 < o.MinR2:
		return fmt.Sprintf("the fit explains %.0f%% of the memory changes (%.0f%% needed)", r.R2*100, o.MinR2*100)
	case r.DriftMBPerH+2*math.Sqrt(final.cov[0][0]) < -o.MaxFallMBPerH:
		// Clearly below, not merely uncertain: when traffic never
		// stops, drift and the cost of an average request trade off.
		return fmt.Sprintf("the fit needs memory to fall %.0f MB/h with no requests, which is not physical", -r.DriftMBPerH)
	case ds.growth <= 0:
		return "memory did not grow"
	}
	return ""
}

// suspect describes path c: a selected path with its estimate from the
// final fit, named unless the gate or the size tests say otherwise; any
// other with its own estimate, as if it were added to the fit, and why it
// was left out.
func (ds *design) suspect(c int, sel selection, final fit, gate string, minT float64, o SuspectOptions) Suspect {
	s := Suspect{Path: ds.paths[c], Requests: int64(math.Round(ds.requests[c])), Dynos: ds.servedBy(c), T: sel.lastT[c]}
	if i := slices.Index(sel.paths, c); i >= 0 {
		perReq := final.beta[2+i]
		s.T = final.tDiff(2+i, 1)
		s.MBPer1k = perReq * 1000
		s.GrowthMB = perReq * ds.requests[c]
		switch {
		case gate != "":
			s.Why = gate
		case s.MBPer1k < o.MinMBPer1k:
			s.Why = fmt.Sprintf("%.2f MB per 1000 requests, under %.1f", s.MBPer1k, o.MinMBPer1k)
		case s.GrowthMB < o.MinShare*ds.growth:
			s.Why = fmt.Sprintf("explains %.0f%% of the growth, under %.0f%%", 100*s.GrowthMB/ds.growth, 100*o.MinShare)
		default:
			s.Named = true
			s.Why = fmt.Sprintf("its requests cost %.1f standard errors more than the average, on every dyno and without any one of them", s.T)
		}
		return s
	}
	if f, ok := ols(ds.columns(append(slices.Clone(sel.paths), c)), ds.y, ds.clusters); ok {
		k := len(f.beta) - 1
		s.MBPer1k = f.beta[k] * 1000
		s.GrowthMB = f.beta[k] * ds.requests[c]
		s.T = f.tDiff(k, 1)
	}
	s.Why = sel.rejected[c]
	if s.Why == "" {
		s.Why = fmt.Sprintf("costs no more than the average request (t=%.1f, %.1f needed)", s.T, minT)
	}
	return s
}

// criticalT is the t statistic as improbable, with clusters clusters, as a
// normal z of z: a cluster-robust statistic follows Student's t with
// clusters-1 degrees of freedom, heavier-tailed than the normal when there
// are few.
func criticalT(z float64, clusters int) float64 {
	if clusters < 2 {
		return math.Inf(1)
	}
	tail := 0.5 * math.Erfc(z/math.Sqrt2)
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(clusters - 1)}.Quantile(1 - tail)
}

func (ds *design) clusterCount() int {
	seen := map[int]bool{}
	for _, c := range ds.clusters {
		seen[c] = true
	}
	return len(seen)
}

// design is the data of a suspects fit: one row per window.
type design struct {
	paths     []string    // fitted paths; OtherPaths last when present
	allPaths  int         // distinct paths seen
	counts    [][]float64 // per window, requests per path
	total     []float64   // per window, all requests
	hours     []float64
	y         []float64 // memory change per window, MB
	clusters  []int     // per window: dyno and hour
	dyno      []int     // per window: the dyno's index
	dynoNames []string
	requests  []float64 // per path, over all windows
	growth    float64
}

func buildDesign(boots []Boot, counts []PathCount, o SuspectOptions) *design {
	type dm struct {
		dyno string
		t    int64
	}
	totals := map[string]float64{}
	for _, c := range counts {
		totals[c.Path] += float64(c.N)
	}
	ds := &design{allPaths: len(totals)}
	for p := range totals {
		ds.paths = append(ds.paths, p)
	}
	sort.Slice(ds.paths, func(i, j int) bool {
		a, b := ds.paths[i], ds.paths[j]
		if totals[a] != totals[b] {
			return totals[a] > totals[b]
		}
		return a < b
	})
	if len(ds.paths) > o.MaxPaths {
		ds.paths = append(ds.paths[:o.MaxPaths:o.MaxPaths], OtherPaths)
	}
	index := map[string]int{}
	for i, p := range ds.paths {
		index[p] = i
	}
	other := index[OtherPaths]
	if _, ok := index[OtherPaths]; !ok {
		other = -1
	}
	perMinute := map[dm][]float64{}
	for _, c := range counts {
		k := dm{c.Dyno, c.T.Truncate(time.Minute).Unix()}
		row := perMinute[k]
		if row == nil {
			row = make([]float64, len(ds.paths))
			perMinute[k] = row
		}
		i, ok := index[c.Path]
		if !ok {
			i = other
		}
		row[i] += float64(c.N)
	}
	dynoIndex := map[string]int{}
	for _, b := range boots {
		if len(b.Points) < 2 {
			continue
		}
		di, ok := dynoIndex[b.Dyno]
		if !ok {
			di = len(ds.dynoNames)
			dynoIndex[b.Dyno] = di
			ds.dynoNames = append(ds.dynoNames, b.Dyno)
		}
		start := b.Started
		if start.IsZero() || start.After(b.Points[0].T) {
			start = b.Points[0].T
		}
		warm := sort.Search(len(b.Points), func(i int) bool { return !b.Points[i].T.Before(start.Add(o.WarmUp)) })
		forWindows(b.Points[warm:], o.Window, func(from, to Point) {
			row := make([]float64, len(ds.paths))
			total := 0.0
			for t := from.T.Truncate(time.Minute); t.Before(to.T); t = t.Add(time.Minute) {
				pm := perMinute[dm{b.Dyno, t.Unix()}]
				if pm == nil {
					continue
				}
				// Requests of a minute are spread evenly over it.
				lo, hi := maxTime(t, from.T), minTime(t.Add(time.Minute), to.T)
				share := hi.Sub(lo).Seconds() / 60
				if share <= 0 {
					continue
				}
				for p, n := range pm {
					row[p] += n * share
					total += n * share
				}
			}
			d := to.MB - from.MB
			ds.counts = append(ds.counts, row)
			ds.total = append(ds.total, total)
			ds.hours = append(ds.hours, to.T.Sub(from.T).Hours())
			ds.y = append(ds.y, d)
			ds.dyno = append(ds.dyno, di)
			ds.clusters = append(ds.clusters, di<<32|int(from.T.Unix()/3600)&0xffffffff)
			if d > 0 {
				ds.growth += d
			}
		})
	}
	ds.requests = make([]float64, len(ds.paths))
	for _, row := range ds.counts {
		for p, n := range row {
			ds.requests[p] += n
		}
	}
	return ds
}

// columns returns the design matrix: hours, the requests of every path not
// in extra, then the requests of each path in extra. A path's coefficient
// is then its cost per request, and its difference from the second
// column's what it costs more than the average other request.
func (ds *design) columns(extra []int) [][]float64 {
	X := make([][]float64, len(ds.y))
	for w := range X {
		row := make([]float64, 2+len(extra))
		row[0], row[1] = ds.hours[w], ds.total[w]
		for i, c := range extra {
			row[2+i] = ds.counts[w][c]
			row[1] -= ds.counts[w][c]
		}
		X[w] = row
	}
	return X
}

// subset returns the rows of X, y and the clusters for which keep is true.
func (ds *design) subset(X [][]float64, keep func(w int) bool) ([][]float64, []float64, []int) {
	var sx [][]float64
	var sy []float64
	var sc []int
	for w := range X {
		if keep(w) {
			sx, sy, sc = append(sx, X[w]), append(sy, ds.y[w]), append(sc, ds.clusters[w])
		}
	}
	return sx, sy, sc
}

// minPathWindows is how many windows must have requests of a path before
// its effect is estimated at all: a path seen in a handful of windows can
// take any GC drop or spike for its own.
const minPathWindows = 20

func (ds *design) windowsWith(c int) int {
	n := 0
	for _, row := range ds.counts {
		if row[c] > 0 {
			n++
		}
	}
	return n
}

func (ds *design) servedBy(c int) int {
	served := map[int]bool{}
	for w, row := range ds.counts {
		if row[c] > 0 {
			served[ds.dyno[w]] = true
		}
	}
	return len(served)
}

// robust checks that path c's extra cost holds across dynos: without any
// one dyno's windows (or, with one dyno, in each half of the windows) it
// stays at least half as large and clearly positive; and on each dyno that
// served a tenth of its requests alone, it is positive. It returns why not,
// or "".
func (ds *design) robust(selected []int, c int, o SuspectOptions) string {
	cols := append(slices.Clone(selected), c)
	X := ds.columns(cols)
	full, ok := ols(X, ds.y, ds.clusters)
	if !ok {
		return "no fit"
	}
	k := len(full.beta) - 1
	perDyno := make([]float64, len(ds.dynoNames))
	for w, row := range ds.counts {
		perDyno[ds.dyno[w]] += row[c]
	}
	holds := func(keep func(w int) bool, label string) string {
		sx, sy, sc := ds.subset(X, keep)
		if len(sy) < o.MinWindows/2 {
			return ""
		}
		f, ok := ols(sx, sy, sc)
		if !ok {
			return ""
		}
		extra, fullExtra := f.beta[k]-f.beta[1], full.beta[k]-full.beta[1]
		if extra < 0.5*fullExtra || f.tDiff(k, 1) < 2 {
			return fmt.Sprintf("its effect does not hold %s (%.2f against %.2f MB per 1000 more than the average request, t=%.1f)", label, extra*1000, fullExtra*1000, f.tDiff(k, 1))
		}
		return ""
	}
	served := 0
	for _, n := range perDyno {
		if n > 0 {
			served++
		}
	}
	if served >= 2 {
		for d, n := range perDyno {
			if n == 0 {
				continue
			}
			if why := holds(func(w int) bool { return ds.dyno[w] != d }, "without "+ds.dynoNames[d]); why != "" {
				return why
			}
		}
	} else {
		// One dyno: the two halves of its windows in time.
		var ts []float64
		for w := range ds.y {
			ts = append(ts, float64(ds.clusters[w]&0xffffffff))
		}
		mid := quantile(slices.Clone(ts), 0.5)
		for _, half := range []struct {
			label string
			keep  func(w int) bool
		}{
			{"in the first half of the time", func(w int) bool { return ts[w] <= mid }},
			{"in the second half of the time", func(w int) bool { return ts[w] > mid }},
		} {
			if why := holds(half.keep, half.label); why != "" {
				return why
			}
		}
	}
	var requests float64
	for _, n := range perDyno {
		requests += n
	}
	for d, n := range perDyno {
		if n < 0.1*requests {
			continue
		}
		sx, sy, sc := ds.subset(X, func(w int) bool { return ds.dyno[w] == d })
		if len(sy) < 6 {
			continue
		}
		if f, ok := ols(sx, sy, sc); ok && f.beta[k]-f.beta[1] <= 0 {
			return fmt.Sprintf("its effect is not positive on %s, which served %.0f%% of its requests", ds.dynoNames[d], 100*n/requests)
		}
	}
	return ""
}

func rSquared(X [][]float64, y []float64, beta []float64) float64 {
	mean := 0.0
	for _, v := range y {
		mean += v
	}
	mean /= float64(len(y))
	var ssRes, ssTot float64
	for w, row := range X {
		pred := 0.0
		for j, x := range row {
			pred += x * beta[j]
		}
		ssRes += (y[w] - pred) * (y[w] - pred)
		ssTot += (y[w] - mean) * (y[w] - mean)
	}
	if ssTot == 0 {
		return 0
	}
	return 1 - ssRes/ssTot
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
