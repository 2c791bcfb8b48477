package analyze

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// app simulates dynos serving paths for d, each path with its own
// schedule of busy and quiet stretches (or all alike when together is
// true), memory sampled every 20 s with a GC sawtooth and noise. cost
// gives the memory a request of a path adds at t; drift is MB/h with no
// requests; shift, if set, adds MB to one dyno's memory from then on.
func app(seed uint64, dynos int, d time.Duration, together bool, cost func(path string, t time.Duration) float64, drift float64,
	shift func(dyno int, t time.Duration) float64) ([]Boot, []PathCount) {
	rng := rand.New(rand.NewPCG(seed, 11))
	paths := []string{"/", "/users/:id", "/search", "/reports/:id", "/api/items/:id", "/cart"}
	// Each path's load per 10-minute slot: its own, or one shared.
	slots := int(d/(10*time.Minute)) + 1
	load := map[string][]float64{}
	shared := make([]float64, slots)
	for i := range shared {
		shared[i] = 0.2 + rng.Float64()*1.8
	}
	for _, p := range paths {
		l := make([]float64, slots)
		for i := range l {
			l[i] = shared[i]
			if !together {
				l[i] = 0.1 + rng.Float64()*2
			}
		}
		load[p] = l
	}
	var boots []Boot
	var counts []PathCount
	for dy := 1; dy <= dynos; dy++ {
		dyno := fmt.Sprintf("web.%d", dy)
		b := Boot{Dyno: dyno, Boot: dyno + "-b"}
		mem := 200.0 + rng.Float64()*100
		period := 3 + rng.Float64()*20
		minute := map[string]int{}
		for t := time.Duration(0); t < d; t += 20 * time.Second {
			if t%time.Minute == 0 {
				for _, p := range paths {
					mean := 6 * load[p][int(t/(10*time.Minute))]
					n := int(math.Max(0, mean+rng.NormFloat64()*math.Sqrt(mean)))
					minute[p] = n
					counts = append(counts, PathCount{Dyno: dyno, Path: p, T: t0.Add(t), N: n})
				}
			}
			for _, p := range paths {
				mem += cost(p, t) * float64(minute[p]) / 3
			}
			mem += drift / 180
			saw := 15 * math.Mod(t.Minutes()/period+float64(dy)/7, 1)
			v := mem + saw + rng.NormFloat64()*2
			if shift != nil {
				v += shift(dy, t)
			}
			b.Points = append(b.Points, Point{T: t0.Add(t), MB: v})
		}
		boots = append(boots, b)
	}
	return boots, counts
}

func named(r SuspectReport) []string {
	var out []string
	for _, s := range r.Suspects {
		if s.Named {
			out = append(out, s.Path)
		}
	}
	return out
}

// TestSuspectsNameNoInnocent: over many seeds, no path is named when memory
// grows with time, with all traffic alike, by a level shift on one dyno, or
// with every path's traffic moving together; and a leaking page is named
// alone, first, with its estimate within 30 %.
func TestSuspectsNameNoInnocent(t *testing.T) {
	none := func(string, time.Duration) float64 { return 0 }
	for seed := uint64(1); seed <= 20; seed++ {
		cases := []struct {
			name   string
			boots  []Boot
			counts []PathCount
			guilty string
			perReq float64
		}{}
		add := func(name string, b []Boot, c []PathCount, guilty string, perReq float64) {
			cases = append(cases, struct {
				name   string
				boots  []Boot
				counts []PathCount
				guilty string
				perReq float64
			}{name, b, c, guilty, perReq})
		}
		b, c := app(seed, 3, 6*time.Hour, false, none, 30, nil)
		add("growth with time", b, c, "", 0)
		b, c = app(seed, 3, 6*time.Hour, false, func(string, time.Duration) float64 { return 0.05 }, 0, nil)
		add("growth with all traffic alike", b, c, "", 0)
		b, c = app(seed, 3, 6*time.Hour, false, none, 0, func(dy int, t time.Duration) float64 {
			if dy == 2 && t > 3*time.Hour {
				return 120
			}
			return 0
		})
		add("a level shift on one dyno", b, c, "", 0)
		b, c = app(seed, 3, 6*time.Hour, true, func(p string, _ time.Duration) float64 {
			if p == "/reports/:id" {
				return 0.3
			}
			return 0
		}, 0, nil)
		add("traffic moving together", b, c, "", 0) // a name here is allowed only if right
		leak := 2 + float64(seed%3)                 // 0.2-0.4 MB a request; 0.1 is at the edge of what 10-minute windows tell from a ±15 MB GC sawtooth
		b, c = app(seed, 3, 6*time.Hour, false, func(p string, _ time.Duration) float64 {
			if p == "/reports/:id" {
				return leak / 10 // MB a request, at 60 requests a minute at most
			}
			return 0
		}, 0, nil)
		add("a leaking page", b, c, "/reports/:id", leak/10)
		for _, tc := range cases {
			r := Suspects(tc.boots, tc.counts, SuspectOptions{})
			got := named(r)
			switch {
			case tc.name == "traffic moving together":
				for _, p := range got {
					if p != "/reports/:id" {
						t.Errorf("seed %d, %s: named innocent %s", seed, tc.name, p)
					}
				}
			case tc.guilty == "":
				if len(got) > 0 {
					t.Errorf("seed %d, %s: named %v (%s)", seed, tc.name, got, r.Reason)
				}
			default:
				if len(got) != 1 || got[0] != tc.guilty {
					t.Errorf("seed %d, %s: named %v, want %s (%s; %+v)", seed, tc.name, got, tc.guilty, r.Reason, r.Suspects)
					continue
				}
				if est := r.Suspects[0].MBPer1k / 1000; math.Abs(est-tc.perReq)/tc.perReq > 0.3 {
					t.Errorf("seed %d: estimate %.3f MB a request, truth %.3f", seed, est, tc.perReq)
				}
			}
		}
	}
}
