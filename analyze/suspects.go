package analyze

import (
	"math"
	"math/rand/v2"
	"sort"
	"time"
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
	Window     time.Duration // memory change is measured over windows this long; default 5m
	MinWindows int           // fewer windows give no names; default 30
	Bootstrap  int           // resamples for the confidence; default 200
	Confidence float64       // a path is named when its effect is positive in at least this share of resamples; default 0.95
	MinMBPer1k float64       // and at least this many MB per 1000 requests; default 0.5
	MinShare   float64       // and explains at least this share of the memory growth; default 0.1
	Seed       uint64        // for the bootstrap; fixed, so results repeat
}

func (o SuspectOptions) withDefaults() SuspectOptions {
	if o.Window <= 0 {
		o.Window = 5 * time.Minute
	}
	if o.MinWindows <= 0 {
		o.MinWindows = 30
	}
	if o.Bootstrap <= 0 {
		o.Bootstrap = 200
	}
	if o.Confidence <= 0 {
		o.Confidence = 0.95
	}
	if o.MinMBPer1k <= 0 {
		o.MinMBPer1k = 0.5
	}
	if o.MinShare <= 0 {
		o.MinShare = 0.1
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Suspect is a path template whose requests go with memory growth.
type Suspect struct {
	Path       string  `json:"path"`
	MBPer1k    float64 `json:"mb_per_1k_requests"`
	Requests   int64   `json:"requests"`
	GrowthMB   float64 `json:"growth_mb"`  // MBPer1k × Requests / 1000
	Confidence float64 `json:"confidence"` // share of bootstrap fits where the effect is positive
	Named      bool    `json:"named"`      // passes every test: a suspect worth naming
}

// SuspectReport is the outcome of a fit.
type SuspectReport struct {
	Windows       int       `json:"windows"`
	Paths         int       `json:"paths"`
	GrowthMB      float64   `json:"growth_mb"`         // sum of positive memory changes over all windows
	DriftMBPerH   float64   `json:"drift_mb_per_hour"` // the intercept: growth with no requests
	R2            float64   `json:"r2"`
	Verdict       string    `json:"verdict"` // "suspects", "none", "not enough data"
	Reason        string    `json:"reason"`
	Suspects      []Suspect `json:"suspects"` // ranked, named ones first
	MinConfidence float64   `json:"min_confidence"`
}

// Suspects fits memory growth against request counts per path template,
// across every boot of every dyno of an app: for each window (a few
// minutes, never across a restart) the change in memory is explained as
// drift × duration + Σ MB-per-request × requests, with non-negative
// per-request effects (least squares by coordinate descent). Paths are
// ranked by MB per 1000 requests; a bootstrap over windows gives each a
// confidence, and only paths that are confidently positive, large enough
// and explain a real share of the growth are named.
func Suspects(boots []Boot, counts []PathCount, o SuspectOptions) SuspectReport {
	o = o.withDefaults()
	// Per dyno, per minute, per path.
	type dm struct {
		dyno string
		t    int64
	}
	perMinute := map[dm]map[string]int{}
	pathIndex := map[string]int{}
	var paths []string
	for _, c := range counts {
		k := dm{c.Dyno, c.T.Truncate(time.Minute).Unix()}
		m := perMinute[k]
		if m == nil {
			m = map[string]int{}
			perMinute[k] = m
		}
		m[c.Path] += c.N
		if _, ok := pathIndex[c.Path]; !ok {
			pathIndex[c.Path] = len(paths)
			paths = append(paths, c.Path)
		}
	}
	// Windows: [t0, t0+Window) within a boot, memory at the samples nearest
	// each end.
	var X [][]float64 // per window: hours, then requests per path
	var y []float64
	growth := 0.0
	for _, b := range boots {
		pts := b.Points
		if len(pts) < 2 {
			continue
		}
		i := 0
		for i < len(pts)-1 {
			j := i
			for j < len(pts)-1 && pts[j+1].T.Sub(pts[i].T) <= o.Window {
				j++
			}
			if j == i {
				i++
				continue
			}
			from, to := pts[i].T, pts[j].T
			row := make([]float64, 1+len(paths))
			row[0] = to.Sub(from).Hours()
			for t := from.Truncate(time.Minute); t.Before(to); t = t.Add(time.Minute) {
				for p, n := range perMinute[dm{b.Dyno, t.Unix()}] {
					// Requests of a minute are spread evenly over it.
					lo := maxTime(t, from)
					hi := minTime(t.Add(time.Minute), to)
					if hi.After(lo) {
						row[1+pathIndex[p]] += float64(n) * hi.Sub(lo).Seconds() / 60
					}
				}
			}
			d := pts[j].MB - pts[i].MB
			X = append(X, row)
			y = append(y, d)
			if d > 0 {
				growth += d
			}
			i = j
		}
	}
	r := SuspectReport{Windows: len(y), Paths: len(paths), GrowthMB: growth, MinConfidence: o.Confidence, Suspects: []Suspect{}}
	if len(y) < o.MinWindows || len(paths) == 0 {
		r.Verdict = "not enough data"
		r.Reason = "too few memory windows with router traffic to fit (runtime metrics and router lines of the same dynos are needed)"
		return r
	}
	beta := nnls(X, y, 300)
	r.DriftMBPerH = beta[0]
	r.R2 = rSquared(X, y, beta)
	// Bootstrap: refit on windows drawn with replacement.
	rng := rand.New(rand.NewPCG(o.Seed, 7))
	positive := make([]int, len(paths))
	bx := make([][]float64, len(y))
	by := make([]float64, len(y))
	for it := 0; it < o.Bootstrap; it++ {
		for k := range by {
			w := rng.IntN(len(y))
			bx[k], by[k] = X[w], y[w]
		}
		bb := nnls(bx, by, 100)
		for p := range paths {
			if bb[1+p] > 0 {
				positive[p]++
			}
		}
	}
	for p, path := range paths {
		var req float64
		for _, row := range X {
			req += row[1+p]
		}
		s := Suspect{Path: path, MBPer1k: beta[1+p] * 1000, Requests: int64(math.Round(req)),
			Confidence: float64(positive[p]) / float64(o.Bootstrap)}
		s.GrowthMB = beta[1+p] * req
		s.Named = s.Confidence >= o.Confidence && s.MBPer1k >= o.MinMBPer1k && growth > 0 && s.GrowthMB >= o.MinShare*growth
		if s.MBPer1k > 0 {
			r.Suspects = append(r.Suspects, s)
		}
	}
	sort.Slice(r.Suspects, func(i, j int) bool {
		a, b := r.Suspects[i], r.Suspects[j]
		if a.Named != b.Named {
			return a.Named
		}
		return a.MBPer1k > b.MBPer1k
	})
	r.Verdict, r.Reason = "none", "no path's requests go with memory growth confidently enough to name it"
	if len(r.Suspects) > 0 && r.Suspects[0].Named {
		r.Verdict, r.Reason = "suspects", "memory grows with these paths' requests"
	}
	return r
}

// nnls minimises |y - Xβ|² with β[1:] >= 0 (β[0], the drift, is free), by
// cyclic coordinate descent on the normal equations.
func nnls(X [][]float64, y []float64, iters int) []float64 {
	k := len(X[0])
	G := make([][]float64, k) // XᵀX
	c := make([]float64, k)   // Xᵀy
	for j := range G {
		G[j] = make([]float64, k)
	}
	for w, row := range X {
		for a := 0; a < k; a++ {
			if row[a] == 0 {
				continue
			}
			c[a] += row[a] * y[w]
			for b := 0; b < k; b++ {
				G[a][b] += row[a] * row[b]
			}
		}
	}
	beta := make([]float64, k)
	for it := 0; it < iters; it++ {
		change := 0.0
		for j := 0; j < k; j++ {
			if G[j][j] == 0 {
				continue
			}
			grad := c[j]
			for b := 0; b < k; b++ {
				grad -= G[j][b] * beta[b]
			}
			next := beta[j] + grad/G[j][j]
			if j > 0 && next < 0 {
				next = 0
			}
			change = math.Max(change, math.Abs(next-beta[j]))
			beta[j] = next
		}
		if change < 1e-9 {
			break
		}
	}
	return beta
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
