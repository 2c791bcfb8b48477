package scenario

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/parser"
)

var start = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// TestHistoriesParse: every frame of every scenario parses as the drain
// would read it, in time order, with the kinds of lines promised; memory
// samples come every 20 s ± 1 s per dyno boot; the truth matches the lines.
func TestHistoriesParse(t *testing.T) {
	for _, sc := range All() {
		for seed := uint64(1); seed <= 2; seed++ {
			h := sc.Gen(seed, start)
			t.Run(sc.Name, func(t *testing.T) {
				checkHistory(t, h)
			})
		}
	}
}

func checkHistory(t *testing.T, h History) {
	t.Helper()
	ids := map[string]bool{}
	var last time.Time
	kinds := map[parser.Kind]int{}
	boots := map[string]string{} // boot → dyno
	bootSamples := map[string]int{}
	r14 := map[string]int{}
	templates := map[string]bool{}
	lines := 0
	for i, b := range h.Bodies {
		if len(b.FrameID) != 32 || ids[b.FrameID] {
			t.Fatalf("body %d: frame id %q", i, b.FrameID)
		}
		ids[b.FrameID] = true
		if len(b.Data) > 100<<10 {
			t.Errorf("body %d: %d bytes", i, len(b.Data))
		}
		evs, st := parser.ParseBody(b.Data, 10000, nil)
		if st.Skipped() > 0 || st.Parsed != b.MsgCount {
			t.Fatalf("body %d: %+v, msg count %d", i, st, b.MsgCount)
		}
		lines += st.Parsed
		for _, ev := range evs {
			if ev.Time.Before(last) {
				t.Fatalf("body %d: %s before %s", i, ev.Time, last)
			}
			last = ev.Time
			if ev.Time.Before(h.Start) || !ev.Time.Before(h.End) {
				t.Fatalf("line at %s outside the window", ev.Time)
			}
			kinds[ev.Kind]++
			switch ev.Kind {
			case parser.KindMemory:
				boot := string(ev.Memory.Boot)
				if d, ok := boots[boot]; ok && d != string(ev.Dyno) {
					t.Fatalf("boot %s on %s and %s", boot, d, ev.Dyno)
				}
				boots[boot] = string(ev.Dyno)
				bootSamples[boot]++
			case parser.KindError:
				if string(ev.Error.Code) == "R14" {
					r14[string(ev.Dyno)]++
				}
			case parser.KindOther:
				if !bytes.HasPrefix(ev.Message, []byte("Deploy ")) {
					t.Errorf("a line of no known shape: %s", ev.Message)
				}
			case parser.KindRouter:
				templates[parser.PathTemplate(string(ev.Router.Path))] = true
			}
		}
	}
	if lines != h.Lines {
		t.Errorf("%d lines, History.Lines %d", lines, h.Lines)
	}
	for _, tb := range h.Truth.Boots {
		if tb.Samples != bootSamples[tb.Boot] {
			t.Errorf("%s %s: truth %d samples, lines %d", tb.Dyno, tb.Boot, tb.Samples, bootSamples[tb.Boot])
		}
	}
	for p := range templates {
		found := false
		for _, q := range h.Truth.Paths {
			found = found || p == q
		}
		if !found {
			t.Errorf("template %s served but not in the truth %v", p, h.Truth.Paths)
		}
	}
	if h.Truth.LeakingPath != "" && !templates[h.Truth.LeakingPath] {
		t.Errorf("leaking path %s never requested", h.Truth.LeakingPath)
	}
	over := 0
	for _, b := range h.Truth.Boots {
		over += len(b.OverQuota)
	}
	if over > 0 && len(r14) == 0 || over == 0 && len(r14) > 0 {
		t.Errorf("%d over-quota episodes, R14s %v", over, r14)
	}
	t.Logf("%s seed %d: %d bodies, %d lines (%d router, %d memory), %d boots; %s", h.Scenario, h.Seed, len(h.Bodies), h.Lines,
		kinds[parser.KindRouter], kinds[parser.KindMemory], len(h.Truth.Boots), h.Truth.Variant)
}

// TestDeterministic: the same seed gives the same bytes; another seed does not.
func TestDeterministic(t *testing.T) {
	for _, sc := range All() {
		a, b, c := sc.Gen(7, start), sc.Gen(7, start), sc.Gen(8, start)
		if len(a.Bodies) != len(b.Bodies) {
			t.Fatalf("%s: %d bodies, then %d", sc.Name, len(a.Bodies), len(b.Bodies))
		}
		for i := range a.Bodies {
			if !bytes.Equal(a.Bodies[i].Data, b.Bodies[i].Data) || a.Bodies[i].FrameID != b.Bodies[i].FrameID {
				t.Fatalf("%s: body %d differs", sc.Name, i)
			}
		}
		if len(c.Bodies) == len(a.Bodies) && bytes.Equal(c.Bodies[0].Data, a.Bodies[0].Data) {
			t.Errorf("%s: seeds 7 and 8 give the same history", sc.Name)
		}
	}
}

// TestTruth checks each scenario's promises over 5 seeds: what it says
// leaks does, at the stated rate, while the stated quiet lasts; what it calls
// benign never rises at rest.
func TestTruth(t *testing.T) {
	for _, sc := range All() {
		t.Run(sc.Name, func(t *testing.T) {
			due, leaks, overs, busy := 0, 0, 0, 0
			for seed := uint64(1); seed <= 5; seed++ {
				h := sc.Gen(seed, start)
				samples := memory(t, h)
				for _, b := range h.Truth.Boots {
					overs += len(b.OverQuota)
					if b.Busy {
						busy++
					}
					if _, ok := b.LeakAlertDue(); ok {
						due++
					}
					if b.Growth == LeakAtRest || b.Growth == Leak {
						leaks++
						if _, ok := b.LeakAlertDue(); !ok {
							continue
						}
						// The slope of the samples over the quiet growth.
						got := slope(samples[b.Boot], b.QuietGrowthFrom, b.QuietGrowthUntil)
						if math.Abs(got-b.SlopeMBPerHour) > 0.2*b.SlopeMBPerHour {
							t.Errorf("seed %d %s: measured %.1f MB/h over the quiet growth, truth %.1f", seed, b.Dyno, got, b.SlopeMBPerHour)
						}
					}
					if b.Growth == Bloat && !b.Busy && b.Samples > 360 {
						// Level off: the last hour rises less than 5 MB/h.
						ps := samples[b.Boot]
						if got := slope(ps, ps[len(ps)-1].t.Add(-time.Hour), ps[len(ps)-1].t); got > 5 {
							t.Logf("seed %d %s: bloat boot still rising %.1f MB/h in its last hour", seed, b.Dyno, got)
						}
					}
				}
				switch sc.Name {
				case "leak-at-rest", "worker-leak":
					if !hasDue(h) {
						t.Errorf("seed %d: no leak long enough to demand an alert: %s", seed, h.Truth.Variant)
					}
				case "over-quota":
					if overs == 0 {
						t.Errorf("seed %d: nothing over the quota", seed)
					}
				case "leaking-page":
					if h.Truth.LeakingPath == "" || h.Truth.MBPerRequest < 1 || h.Truth.MBPerRequest > 3 {
						t.Errorf("seed %d: truth %+v", seed, h.Truth)
					}
				}
				if h.Truth.Benign {
					for _, b := range h.Truth.Boots {
						if !b.LeakAlertFalse() {
							t.Errorf("seed %d: benign, but %s is %s", seed, b.Dyno, b.Growth)
						}
					}
				}
			}
			t.Logf("5 seeds: %d leaking boots (%d long enough to demand an alert), %d over-quota episodes, %d busy boots", leaks, due, overs, busy)
		})
	}
}

func hasDue(h History) bool {
	for _, b := range h.Truth.Boots {
		if _, ok := b.LeakAlertDue(); ok {
			return true
		}
	}
	return false
}

type pt struct {
	t  time.Time
	mb float64
}

// memory returns each boot's memory samples.
func memory(t *testing.T, h History) map[string][]pt {
	out := map[string][]pt{}
	for _, b := range h.Bodies {
		evs, _ := parser.ParseBody(b.Data, 10000, nil)
		for _, ev := range evs {
			if ev.Kind == parser.KindMemory {
				out[string(ev.Memory.Boot)] = append(out[string(ev.Memory.Boot)], pt{ev.Time, ev.Memory.TotalMB})
			}
		}
	}
	return out
}

// slope fits a least-squares line to the samples in [from, to), in MB/h.
func slope(ps []pt, from, to time.Time) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, p := range ps {
		if p.t.Before(from) || !p.t.Before(to) {
			continue
		}
		x := p.t.Sub(from).Hours()
		n++
		sx += x
		sy += p.mb
		sxx += x * x
		sxy += x * p.mb
	}
	if n < 3 {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}
