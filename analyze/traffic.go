package analyze

import (
	"math"
	"time"
)

// TrafficReport is a busy dyno's memory against the requests it served:
// over windows of a boot, the change in memory is fitted as drift × hours +
// MB-per-request × requests.
type TrafficReport struct {
	Windows        int     `json:"windows"`
	Requests       int64   `json:"requests"`
	MBPer1k        float64 `json:"mb_per_1k_requests"`
	T              float64 `json:"t_stat"` // MB-per-request over its standard error
	DriftMBPerHour float64 `json:"drift_mb_per_hour"`
	RiseMB         float64 `json:"rise_mb"`      // the summed change over the windows
	ExplainedMB    float64 `json:"explained_mb"` // the part the requests account for
	Grows          bool    `json:"grows_with_traffic"`
}

// trafficWindow is how long each window of the traffic fit is.
const trafficWindow = 10 * time.Minute

// trafficFit regresses memory change on requests served. It says "grows"
// when the per-request effect is clearly positive (t ≥ 3) and accounts for
// at least half of the rise.
func trafficFit(b Boot, o BootOptions) TrafficReport {
	perMinute := map[int64]int{}
	for _, c := range b.Requests {
		perMinute[c.T.Unix()/60] += c.N
	}
	var X [][]float64
	var y []float64
	forWindows(b.Points, trafficWindow, func(from, to Point) {
		n := 0.0
		for t := from.T.Truncate(time.Minute); t.Before(to.T); t = t.Add(time.Minute) {
			lo := maxTime(t, from.T)
			hi := minTime(t.Add(time.Minute), to.T)
			if hi.After(lo) {
				n += float64(perMinute[t.Unix()/60]) * hi.Sub(lo).Seconds() / 60
			}
		}
		X = append(X, []float64{to.T.Sub(from.T).Hours(), n})
		y = append(y, to.MB-from.MB)
	})
	r := TrafficReport{Windows: len(y)}
	for i := range y {
		r.RiseMB += y[i]
		r.Requests += int64(math.Round(X[i][1]))
	}
	if len(y) < 6 {
		return r
	}
	f, ok := ols(X, y, nil)
	if !ok {
		return r
	}
	r.DriftMBPerHour = f.beta[0]
	r.MBPer1k = f.beta[1] * 1000
	r.T = f.t(1)
	r.ExplainedMB = f.beta[1] * float64(r.Requests)
	r.Grows = r.T >= 3 && r.MBPer1k > 0 && r.RiseMB > 0 && r.ExplainedMB >= 0.5*r.RiseMB
	return r
}

// forWindows calls f with the first and last sample of each window of
// about d, one after the other, within pts (one boot). Windows across a gap
// in the samples longer than d are skipped.
func forWindows(pts []Point, d time.Duration, f func(from, to Point)) {
	i := 0
	for i < len(pts)-1 {
		j := i
		for j < len(pts)-1 && pts[j+1].T.Sub(pts[i].T) <= d {
			j++
		}
		if j == i {
			i++
			continue
		}
		if pts[j].T.Sub(pts[i].T) >= d/2 {
			f(pts[i], pts[j])
		}
		i = j
	}
}

// fit is an ordinary least-squares fit.
type fit struct {
	beta []float64
	cov  [][]float64 // of beta, classical
	// robust is the cluster-robust covariance when clusters were given.
	// Standard errors take the larger of the two: the robust one for
	// windows that are correlated, the classical one for a regressor seen
	// in few clusters, where the robust one is too small.
	robust [][]float64
	rss    float64
}

// variance of Σ w_j β_j, the larger of the classical and robust ones.
func (f fit) variance(w map[int]float64) float64 {
	v := 0.0
	for _, c := range [][][]float64{f.cov, f.robust} {
		if c == nil {
			continue
		}
		s := 0.0
		for i, wi := range w {
			for j, wj := range w {
				s += wi * wj * c[i][j]
			}
		}
		v = max(v, s)
	}
	return v
}

// t is beta[j] over its standard error.
func (f fit) t(j int) float64 {
	v := f.variance(map[int]float64{j: 1})
	if v <= 0 {
		return 0
	}
	return f.beta[j] / math.Sqrt(v)
}

// tDiff is beta[i] - beta[j] over its standard error.
func (f fit) tDiff(i, j int) float64 {
	v := f.variance(map[int]float64{i: 1, j: -1})
	if v <= 0 {
		return 0
	}
	return (f.beta[i] - f.beta[j]) / math.Sqrt(v)
}

// ols fits y = Xβ by least squares. With clusters (one label per row), the
// standard errors are cluster-robust (rows of a cluster may be correlated,
// as the windows of one dyno's hour are); otherwise classical. It reports
// false when XᵀX is singular (a column is all zero, or two move together).
func ols(X [][]float64, y []float64, clusters []int) (fit, bool) {
	k := len(X[0])
	n := len(y)
	xtx := make([][]float64, k)
	for a := range xtx {
		xtx[a] = make([]float64, k)
	}
	xty := make([]float64, k)
	for w, row := range X {
		for a := 0; a < k; a++ {
			if row[a] == 0 {
				continue
			}
			xty[a] += row[a] * y[w]
			for b := 0; b < k; b++ {
				xtx[a][b] += row[a] * row[b]
			}
		}
	}
	inv, ok := invert(xtx)
	if !ok {
		return fit{}, false
	}
	f := fit{beta: make([]float64, k), cov: make([][]float64, k)}
	for j := range f.cov {
		f.cov[j] = make([]float64, k)
	}
	for a := 0; a < k; a++ {
		for b := 0; b < k; b++ {
			f.beta[a] += inv[a][b] * xty[b]
		}
	}
	resid := make([]float64, n)
	for w, row := range X {
		pred := 0.0
		for j, x := range row {
			pred += x * f.beta[j]
		}
		resid[w] = y[w] - pred
		f.rss += resid[w] * resid[w]
	}
	if n > k {
		s2 := f.rss / float64(n-k)
		for a := range f.cov {
			for b := range f.cov[a] {
				f.cov[a][b] = inv[a][b] * s2
			}
		}
	}
	if clusters == nil {
		return f, true
	}
	f.robust = make([][]float64, k)
	for j := range f.robust {
		f.robust[j] = make([]float64, k)
	}
	// Sandwich: inv · Σ_g (X_gᵀ e_g)(X_gᵀ e_g)ᵀ · inv.
	score := map[int][]float64{}
	for w, row := range X {
		s := score[clusters[w]]
		if s == nil {
			s = make([]float64, k)
			score[clusters[w]] = s
		}
		for j, x := range row {
			s[j] += x * resid[w]
		}
	}
	meat := make([][]float64, k)
	for a := range meat {
		meat[a] = make([]float64, k)
	}
	for _, s := range score {
		for a := 0; a < k; a++ {
			for b := 0; b < k; b++ {
				meat[a][b] += s[a] * s[b]
			}
		}
	}
	g := float64(len(score))
	adj := 1.0
	if g > 1 && n > k {
		adj = g / (g - 1) * float64(n-1) / float64(n-k)
	}
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			v := 0.0
			for a := 0; a < k; a++ {
				for b := 0; b < k; b++ {
					v += inv[i][a] * meat[a][b] * inv[b][j]
				}
			}
			f.robust[i][j] = v * adj
		}
	}
	return f, true
}

// invert returns the inverse of the symmetric matrix m by Gauss–Jordan
// elimination with partial pivoting, or false when m is (nearly) singular.
func invert(m [][]float64) ([][]float64, bool) {
	k := len(m)
	a := make([][]float64, k)
	scale := 0.0
	for i := range m {
		a[i] = make([]float64, 2*k)
		copy(a[i], m[i])
		a[i][k+i] = 1
		scale = max(scale, math.Abs(m[i][i]))
	}
	if scale == 0 {
		return nil, false
	}
	for c := 0; c < k; c++ {
		p := c
		for r := c + 1; r < k; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if math.Abs(a[p][c]) < 1e-10*scale {
			return nil, false
		}
		a[c], a[p] = a[p], a[c]
		piv := a[c][c]
		for j := range a[c] {
			a[c][j] /= piv
		}
		for r := 0; r < k; r++ {
			if r == c || a[r][c] == 0 {
				continue
			}
			f := a[r][c]
			for j := range a[r] {
				a[r][j] -= f * a[c][j]
			}
		}
	}
	out := make([][]float64, k)
	for i := range out {
		out[i] = a[i][k:]
	}
	return out, true
}
