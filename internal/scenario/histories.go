package scenario

import (
	"fmt"
	"math"
	"time"
)

// appShape is what an app's dynos share: memory base, GC, noise, traffic.
type appShape struct {
	base       float64 // MB after boot
	bootMB     float64
	bootTau    time.Duration
	gcPeriod   time.Duration
	gcAmp      float64
	noise      noise
	busyRPM    float64 // requests a minute per web dyno when busy
	trickleRPM float64 // … and at rest
}

func (s *sim) shape(baseLo, baseHi float64) appShape {
	return appShape{
		base:       s.uniform(baseLo, baseHi),
		bootMB:     s.uniform(5, 30),
		bootTau:    s.dur(time.Minute, 4*time.Minute),
		gcPeriod:   s.dur(2*time.Minute, 40*time.Minute),
		gcAmp:      s.uniform(4, 30),
		noise:      s.noise(),
		busyRPM:    s.uniform(8, 30),
		trickleRPM: s.uniform(0, 1.2),
	}
}

// spec is a dyno's boot of the app: the app's shape, varied a little.
func (s *sim) spec(a appShape, g Growth) memSpec {
	n := a.noise
	n.Sigma *= s.uniform(0.8, 1.25)
	return memSpec{Growth: g, Base: a.base + s.rng.NormFloat64()*5, BootMB: a.bootMB, BootTau: a.bootTau,
		GCPeriod: time.Duration(float64(a.gcPeriod) * s.uniform(0.85, 1.15)), GCAmp: a.gcAmp * s.uniform(0.8, 1.2),
		Noise: n, LeakPath: -1}
}

// warm sets a bloat warm-up: WarmMB levelling off after about reqs requests
// (three time constants), and a slow tail.
func (s *sim) warm(sp *memSpec, mb, reqs float64) {
	sp.WarmMB, sp.WarmReqs = mb, reqs/3
	sp.TailMB, sp.TailReqs = mb*s.uniform(0.05, 0.15), reqs*s.uniform(0.6, 1.2)
}

// warmWithin sets a warm-up, tail included, done within about reqs requests:
// what a leak at rest is measured after.
func (s *sim) warmWithin(sp *memSpec, mb, reqs float64) {
	s.warm(sp, mb, reqs*s.uniform(0.3, 0.6))
	sp.TailReqs = reqs * s.uniform(0.15, 0.25)
}

// level caps a warm-up so that a benign app levels off well under its
// quota (at most ~85 % with the sawtooth on top).
func level(a appShape, warmMB float64) float64 {
	return max(15, min(warmMB, (0.85*512-a.base-a.bootMB-a.gcAmp/2-10)/1.15))
}

func (s *sim) rps(nWeb int, rpm float64) float64 { return float64(nWeb) * rpm / 60 }

// rm prints a duration to the minute.
func rm(d time.Duration) string { return d.Round(time.Minute).String() }

func hours(h float64) time.Duration { return time.Duration(h * float64(time.Hour)) }

// burst adds a load test (loader.io, blitz.io: the seeds' way to find out)
// to knots: a stretch at several times the rate.
func (s *sim) burst(ks []knot, at time.Duration, rps float64) []knot {
	long := s.dur(8*time.Minute, 20*time.Minute)
	var out []knot
	for _, k := range ks {
		if k.at < at {
			out = append(out, k)
		}
	}
	sc := &schedule{knots: ks}
	before, after := sc.base(at), sc.base(at+long)
	out = append(out, knot{at, before}, knot{at + time.Minute, rps}, knot{at + long, rps}, knot{at + long + time.Minute, after})
	for _, k := range ks {
		if k.at > at+long+time.Minute {
			out = append(out, k)
		}
	}
	return out
}

// quietGrowth bounds a boot's quiet growth: the part of [from, until)
// inside it. A boot that began after the quiet did is left out: its warm-up,
// fed by the trickle of requests at rest, would add to the leak.
func quietGrowth(b *Boot, from, until time.Time) {
	if b.Start.After(from) {
		return
	}
	if !b.End.IsZero() {
		until = minT(until, b.End)
	}
	if until.After(from) {
		b.QuietGrowthFrom, b.QuietGrowthUntil = from, until
	}
}

func maxT(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minT(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Bloat6h: three web dynos, freshly booted, warm up to a plateau while
// serving requests (a busy stretch, maybe a load test), then level off; flat
// at rest. Benign: no leak anywhere.
func Bloat6h(seed uint64, start time.Time) History {
	s := newSim("bloat", seed, start, 6)
	s.pickPaths(5 + s.rng.IntN(36))
	s.addWeb(3)
	a := s.shape(150, 350)
	quietFirst := s.dur(0, time.Hour)
	busy := s.dur(time.Hour, 3*time.Hour)
	busyRPS, rest := s.rps(3, a.busyRPM), s.rps(3, a.trickleRPM)
	parts := []knot{{quietFirst, rest}, {busy, busyRPS}, {hours(6) - quietFirst - busy, rest}}
	variant := fmt.Sprintf("quiet %s, busy %s at %.0f rpm/dyno, then at rest", rm(quietFirst), rm(busy), a.busyRPM)
	if s.rng.IntN(2) == 0 { // traffic comes back for a while
		again := s.dur(20*time.Minute, 50*time.Minute)
		gap := hours(6) - quietFirst - busy - again
		parts = []knot{{quietFirst, rest}, {busy, busyRPS}, {gap / 2, rest}, {again, busyRPS * s.uniform(0.5, 1)}, {gap - gap/2, rest}}
		variant += fmt.Sprintf("; busy again for %s", rm(again))
	}
	ks := s.stretches(parts...)
	if s.rng.IntN(3) == 0 {
		ks = s.burst(ks, quietFirst+busy/3, busyRPS*s.uniform(3, 6))
		variant += "; a load test"
	}
	s.traffic(s.schedule(ks...), nil)
	perDyno := a.busyRPM * busy.Minutes()
	warmMB := level(a, s.uniform(60, 200))
	reqs := perDyno * s.uniform(0.3, 0.8)
	for _, d := range s.dynos {
		s.run(d, policy{age: func() time.Duration { return s.dur(5*time.Minute, 40*time.Minute) },
			spec: func(int, time.Time) memSpec {
				sp := s.spec(a, Bloat)
				s.warm(&sp, warmMB*s.uniform(0.9, 1.1), reqs)
				return sp
			}})
	}
	s.h.Truth.Benign = true
	s.h.Truth.Variant = variant + fmt.Sprintf("; warm-up +%.0f MB over ~%.0f requests/dyno", warmMB, reqs)
	return s.finish()
}

// DailyRestart: a stable app with a GC sawtooth of ±15–20 MB; Heroku's
// daily cycling restarts dynos at random times (most at night); memory
// warms up again when the morning's traffic returns. Benign.
func DailyRestart(seed uint64, start time.Time) History {
	s := newSim("daily-restart", seed, start, 6)
	s.pickPaths(5 + s.rng.IntN(36))
	s.addWeb(3)
	a := s.shape(150, 350)
	a.gcAmp = s.uniform(30, 40)
	evening := s.dur(0, time.Hour)
	morning := s.dur(2*time.Hour, 3*time.Hour+30*time.Minute)
	busyRPS, rest := s.rps(3, a.busyRPM), s.rps(3, a.trickleRPM)
	ramp := s.dur(30*time.Minute, time.Hour)
	ks := []knot{{0, busyRPS * s.uniform(0.3, 0.8)}, {evening, busyRPS * 0.3}, {evening + 10*time.Minute, rest},
		{morning, rest}, {morning + ramp, busyRPS}, {hours(6), busyRPS * s.uniform(0.8, 1.3)}}
	if evening == 0 {
		ks = ks[2:]
		ks[0].at = 0
	}
	s.traffic(s.schedule(ks...), nil)
	warmMB := level(a, s.uniform(40, 150))
	reqs := a.busyRPM * s.uniform(30, 90)
	variant := fmt.Sprintf("night until %s, morning ramp %s; cycling:", rm(morning), rm(ramp))
	cycled := false
	for i, d := range s.dynos {
		var rs []restart
		if s.rng.Float64() < 0.75 || i == len(s.dynos)-1 && !cycled {
			at := start.Add(s.dur(20*time.Minute, hours(5.5)))
			if s.rng.IntN(3) > 0 { // most in the quiet of the night
				at = start.Add(s.dur(evening+15*time.Minute, morning-5*time.Minute))
			}
			rs = []restart{{at, "cycling"}}
			cycled = true
			variant += fmt.Sprintf(" %s at %s", d.name, at.Sub(start).Round(time.Minute))
		}
		s.run(d, policy{restarts: rs, spec: func(boot int, _ time.Time) memSpec {
			if boot == 0 { // up for hours, warmed up long ago
				sp := s.spec(a, Stable)
				s.warm(&sp, warmMB, reqs)
				sp.Served0 = reqs * 30
				return sp
			}
			sp := s.spec(a, Bloat)
			s.warm(&sp, warmMB*s.uniform(0.9, 1.1), reqs)
			return sp
		}})
	}
	s.h.Truth.Benign = true
	s.h.Truth.Variant = variant
	return s.finish()
}

// LeakAtRest6h: busy, then traffic stops (a trickle at most) for 2¼ hours
// or more; memory of the leaking dynos keeps rising +25–35 MB/h while idle.
// An operator restarts a dyno that nears its quota.
func LeakAtRest6h(seed uint64, start time.Time) History {
	s := newSim("leak-at-rest", seed, start, 6)
	s.pickPaths(5 + s.rng.IntN(36))
	s.addWeb(3)
	a := s.shape(150, 300)
	busyFor := s.dur(time.Hour, 2*time.Hour+30*time.Minute)
	quietFor := s.dur(2*time.Hour+15*time.Minute, hours(6)-busyFor)
	busyRPS, rest := s.rps(3, a.busyRPM), s.rps(3, a.trickleRPM)
	parts := []knot{{busyFor, busyRPS}, {quietFor, rest}}
	if left := hours(6) - busyFor - quietFor; left > 0 {
		parts = append(parts, knot{left, busyRPS * s.uniform(0.5, 1)})
	}
	s.traffic(s.schedule(s.stretches(parts...)...), nil)
	quietFrom, quietUntil := start.Add(busyFor+10*time.Minute), start.Add(busyFor+quietFor)
	nLeak := 3
	if s.rng.IntN(3) == 0 {
		nLeak = 1 + s.rng.IntN(2)
	}
	leaky := map[int]bool{}
	for _, i := range s.rng.Perm(3)[:nLeak] {
		leaky[i] = true
	}
	warmMB := level(a, s.uniform(30, 120))
	reqs := a.busyRPM * (busyFor - 15*time.Minute).Minutes()
	variant := fmt.Sprintf("busy %s at %.0f rpm/dyno, quiet %s (trickle %.1f rpm/dyno); leaking:", rm(busyFor), a.busyRPM, rm(quietFor), a.trickleRPM)
	for i, d := range s.dynos {
		slope := s.uniform(25, 35)
		if leaky[i] {
			variant += fmt.Sprintf(" %s +%.1f MB/h", d.name, slope)
		}
		s.run(d, policy{
			age:         func() time.Duration { return s.dur(10*time.Minute, time.Hour) },
			nearShare:   0.93,
			nearRestart: func() time.Duration { return s.dur(10*time.Minute, 40*time.Minute) },
			spec: func(boot int, bootStart time.Time) memSpec {
				if !leaky[i] {
					sp := s.spec(a, Bloat)
					s.warmWithin(&sp, warmMB, reqs)
					return sp
				}
				sp := s.spec(a, LeakAtRest)
				s.warmWithin(&sp, warmMB, reqs)
				sp.LeakPerHour = slope
				if boot == 0 {
					// Low enough to leak at rest for two hours and more
					// before anyone restarts it.
					until := quietFrom.Add(2*time.Hour + 15*time.Minute).Sub(bootStart)
					sp.Base = max(120, min(sp.Base, 0.9*512-sp.BootMB-warmMB*1.15-slope*until.Hours()))
				}
				return sp
			}})
		for j := range d.boots {
			if d.boots[j].Growth == LeakAtRest {
				quietGrowth(&d.boots[j], maxT(quietFrom, start), quietUntil)
			}
		}
	}
	s.h.Truth.Variant = variant
	return s.finish()
}

// OverQuota: every web dyno climbs over its quota — with time, or evenly
// with all traffic (no path more than another) — R14s every 20 s while over,
// until an operator restarts it (5–45 minutes later); the new boot starts
// low and climbs again.
func OverQuota(seed uint64, start time.Time) History {
	s := newSim("over-quota", seed, start, 6)
	s.pickPaths(5 + s.rng.IntN(36))
	s.addWeb(3)
	a := s.shape(220, 350)
	a.busyRPM = s.uniform(10, 30)
	busyRPS := s.rps(3, a.busyRPM)
	var parts []knot
	for left := hours(6); left > 0; {
		d := min(left, s.dur(20*time.Minute, 90*time.Minute))
		parts = append(parts, knot{d, busyRPS * s.uniform(0.5, 1.4)})
		left -= d
	}
	s.traffic(s.schedule(s.stretches(parts...)...), nil)
	withTime := s.rng.IntN(2) == 0
	rate := s.uniform(40, 110) // MB/h at full traffic
	variant := "grows evenly with all traffic"
	if withTime {
		variant = "grows with time"
	}
	variant += fmt.Sprintf(", about %.0f MB/h; reaching the quota after:", rate)
	warmMB := s.uniform(20, 60)
	for _, d := range s.dynos {
		r := rate * s.uniform(0.8, 1.2)
		toQuota := s.dur(30*time.Minute, 4*time.Hour)
		variant += fmt.Sprintf(" %s %s", d.name, toQuota.Round(time.Minute))
		s.run(d, policy{
			age:         func() time.Duration { return s.dur(10*time.Minute, 30*time.Minute) },
			overRestart: func() time.Duration { return s.dur(5*time.Minute, 45*time.Minute) },
			spec: func(boot int, _ time.Time) memSpec {
				g := PerRequest
				if withTime {
					g = OverTime
				}
				sp := s.spec(a, g)
				s.warm(&sp, warmMB, a.busyRPM*30)
				sp.Busy = true
				if withTime {
					sp.LeakPerHour = r
				} else {
					sp.LeakPerAny = r / (a.busyRPM * 60)
				}
				if boot == 0 { // up for a while already: as far up as to reach the quota in toQuota
					sp.Served0 = a.busyRPM * 120
					sp.Base = max(sp.Base, 512+10-r*toQuota.Hours()-warmMB-sp.BootMB)
				}
				return sp
			}})
	}
	s.h.Truth.Variant = variant
	return s.finish()
}

// LeakingPage: one path template leaks 1–3 MB a request; the other paths
// are flat. Each path's traffic follows a schedule of its own. An operator
// restarts a dyno nearing its quota.
func LeakingPage(seed uint64, start time.Time) History {
	s := newSim("leaking-page", seed, start, 6)
	s.pickPaths(5 + s.rng.IntN(36))
	s.addWeb(3)
	a := s.shape(150, 300)
	// The leaking page is one of the five most requested templates.
	best := []int{}
	for i := range s.paths {
		best = append(best, i)
	}
	for i := range best { // by share, descending (n is small)
		for j := i + 1; j < len(best); j++ {
			if s.paths[best[j]].share > s.paths[best[i]].share {
				best[i], best[j] = best[j], best[i]
			}
		}
	}
	leak := best[s.rng.IntN(min(5, len(best)))]
	perReq := s.uniform(1, 3)
	// Enough traffic for the page to be requested 0.3–1 times a minute
	// per dyno on average.
	pageRPM := s.uniform(0.3, 1)
	busyRPM := min(pageRPM/s.paths[leak].share, 60)
	busyRPS := s.rps(3, busyRPM)
	var parts []knot
	for left := hours(6); left > 0; {
		d := min(left, s.dur(20*time.Minute, 80*time.Minute))
		lvl := []float64{0.05, 0.5, 1, 1, 1.5}[s.rng.IntN(5)]
		parts = append(parts, knot{d, busyRPS * lvl})
		left -= d
	}
	s.traffic(s.schedule(s.stretches(parts...)...), s.pathMults())
	warmMB := s.uniform(20, 80)
	for _, d := range s.dynos {
		s.run(d, policy{
			age:         func() time.Duration { return s.dur(5*time.Minute, 2*time.Hour) },
			nearShare:   s.uniform(0.85, 0.95),
			nearRestart: func() time.Duration { return s.dur(5*time.Minute, 30*time.Minute) },
			spec: func(int, time.Time) memSpec {
				sp := s.spec(a, PerRequest)
				s.warm(&sp, warmMB, busyRPM*40)
				sp.LeakPath, sp.LeakPerReq = leak, perReq
				return sp
			}})
	}
	s.h.Truth.LeakingPath, s.h.Truth.MBPerRequest = s.paths[leak].template, perReq
	s.h.Truth.Variant = fmt.Sprintf("%s leaks %.2f MB/request, ~%.2f requests/min/dyno of it; %d paths at ~%.0f rpm/dyno when busy",
		s.paths[leak].template, perReq, pageRPM, len(s.paths), busyRPM)
	return s.finish()
}

// BusyToR14: web dynos busy all the time (short lulls at most, maybe a load
// test) rising to R14 — growing per request served (evenly over all paths),
// or levelling off over the quota (too many workers for the dyno: bloat).
func BusyToR14(seed uint64, start time.Time) History {
	s := newSim("busy-r14", seed, start, 6)
	s.pickPaths(5 + s.rng.IntN(36))
	s.addWeb(3)
	a := s.shape(200, 350)
	a.busyRPM = s.uniform(15, 40)
	busyRPS := s.rps(3, a.busyRPM)
	var parts []knot
	for left := hours(6); left > 0; {
		d := min(left, s.dur(30*time.Minute, 90*time.Minute))
		parts = append(parts, knot{d, busyRPS * s.uniform(0.6, 1.3)})
		left -= d
		if s.rng.IntN(4) == 0 && left > 10*time.Minute { // a short lull
			l := s.dur(3*time.Minute, 8*time.Minute)
			parts = append(parts, knot{l, busyRPS * 0.1})
			left -= l
		}
	}
	ks := s.stretches(parts...)
	variant := ""
	if s.rng.IntN(3) == 0 {
		ks = s.burst(ks, s.dur(time.Hour, 4*time.Hour), busyRPS*s.uniform(2, 4))
		variant = "a load test; "
	}
	s.traffic(s.schedule(ks...), nil)
	perReq := s.rng.IntN(2) == 0
	var restartAfter func() time.Duration
	if s.rng.IntN(3) > 0 {
		restartAfter = func() time.Duration { return s.dur(10*time.Minute, time.Hour) }
		variant += "restarted 10–60 min after going over; "
	}
	if perReq {
		variant += "grows per request:"
	} else {
		variant += "levels off over the quota:"
	}
	for _, d := range s.dynos {
		mbh := s.uniform(40, 120) // per-request growth at full traffic
		level := 512 * s.uniform(1.03, 1.12)
		warmReqs := a.busyRPM * s.uniform(40, 120)
		if perReq {
			variant += fmt.Sprintf(" %s %.3f MB/req", d.name, mbh/(a.busyRPM*60))
		} else {
			variant += fmt.Sprintf(" %s at %.0f MB", d.name, level)
		}
		s.run(d, policy{
			age:         func() time.Duration { return s.dur(5*time.Minute, 90*time.Minute) },
			overRestart: restartAfter,
			spec: func(boot int, _ time.Time) memSpec {
				if perReq {
					sp := s.spec(a, PerRequest)
					s.warm(&sp, s.uniform(20, 60), warmReqs)
					sp.LeakPerAny = mbh / (a.busyRPM * 60)
					sp.Busy = true
					return sp
				}
				sp := s.spec(a, Bloat)
				// Over the quota with a margin the noise stays inside:
				// one episode for the boot.
				sp.GCAmp = min(sp.GCAmp, (level-512)*0.6)
				sp.Noise = noise{Sigma: min(sp.Noise.Sigma, 2)}
				s.warm(&sp, level-sp.Base-sp.BootMB, warmReqs)
				sp.TailMB, sp.TailReqs = 0, 0
				sp.WarmReqs = warmReqs / 4
				sp.Busy = true
				return sp
			}})
	}
	s.h.Truth.Variant = variant
	return s.finish()
}

// WorkerLeak: a worker dyno (no router traffic) leaks 15–45 MB/h after its
// warm-up, beside two or three benign web dynos; sometimes its daily cycling
// falls in the window, and the new boot leaks again.
func WorkerLeak(seed uint64, start time.Time) History {
	s := newSim("worker-leak", seed, start, 6)
	s.pickPaths(5 + s.rng.IntN(36))
	s.addWeb(2 + s.rng.IntN(2))
	w := s.addWorker()
	webs := s.web()
	a := s.shape(150, 350)
	busyRPS, rest := s.rps(len(webs), a.busyRPM), s.rps(len(webs), a.trickleRPM)
	var parts []knot
	for left := hours(6); left > 0; {
		d := min(left, s.dur(30*time.Minute, 2*time.Hour))
		lvl := busyRPS * s.uniform(0.4, 1.2)
		if s.rng.IntN(3) == 0 {
			lvl = rest
		}
		parts = append(parts, knot{d, lvl})
		left -= d
	}
	s.traffic(s.schedule(s.stretches(parts...)...), nil)
	warmMB := level(a, s.uniform(30, 120))
	for _, d := range webs {
		s.run(d, policy{spec: func(_ int, at time.Time) memSpec {
			sp := s.spec(a, Bloat)
			s.warm(&sp, warmMB, a.busyRPM*60)
			if at.Before(start) {
				// Up for a while before the window: it served traffic
				// then, most of its warm-up with it.
				sp.Served0 = a.busyRPM * 60 * s.uniform(1, 3)
			}
			if s.rng.IntN(2) == 0 {
				sp.Growth, sp.Served0 = Stable, a.busyRPM*60*10
			}
			return sp
		}})
	}
	slope := s.uniform(15, 45)
	tau := s.dur(3*time.Minute, 15*time.Minute)
	bootMB := s.uniform(20, 80)
	// Most stay under the quota through the window; a fast leak from a
	// high base goes over it, and someone restarts the worker.
	base := max(150, min(s.uniform(150, 300), 480-bootMB-slope*7))
	var rs []restart
	variant := fmt.Sprintf("worker.1 +%.1f MB/h after a %s warm-up of %.0f MB", slope, rm(3*tau), bootMB)
	if s.rng.IntN(10) < 3 {
		at := start.Add(s.dur(time.Hour, 5*time.Hour))
		rs = []restart{{at, "cycling"}}
		variant += fmt.Sprintf("; cycled at %s", at.Sub(start).Round(time.Minute))
	}
	s.run(w, policy{
		restarts:    rs,
		overRestart: func() time.Duration { return s.dur(10*time.Minute, 40*time.Minute) },
		age:         func() time.Duration { return s.dur(5*time.Minute, time.Hour) },
		spec: func(int, time.Time) memSpec {
			sp := s.spec(a, Leak)
			sp.Base, sp.BootMB, sp.BootTau = base+s.rng.NormFloat64()*5, bootMB, tau
			sp.LeakPerHour = slope
			// Jobs allocate in bursts.
			sp.Noise.SpikeProb, sp.Noise.SpikeMB = max(sp.Noise.SpikeProb, 0.01), max(sp.Noise.SpikeMB, 15)
			return sp
		}})
	for j := range w.boots {
		b := &w.boots[j]
		from := maxT(start, b.Start.Add(3*tau))
		until := s.h.End
		if !b.End.IsZero() {
			until = b.End
		}
		if until.After(from) {
			b.QuietGrowthFrom, b.QuietGrowthUntil = from, until
		}
	}
	s.h.Truth.Variant = variant
	return s.finish()
}

// Deploy: a release in the middle of the window restarts every dyno with a
// new boot; memory warms up again. In some seeds the old release leaked at
// rest through a quiet night and the deploy fixed it.
func Deploy(seed uint64, start time.Time) History {
	s := newSim("deploy", seed, start, 6)
	s.pickPaths(5 + s.rng.IntN(36))
	s.addWeb(3)
	a := s.shape(150, 300)
	leakyOld := s.rng.IntN(5) < 2
	at := s.dur(2*time.Hour, 4*time.Hour)
	busyRPS, rest := s.rps(3, a.busyRPM), s.rps(3, a.trickleRPM)
	var ks []knot
	if leakyOld {
		at = s.dur(3*time.Hour, 4*time.Hour)
		// Quiet night until the morning deploy, then traffic.
		ks = s.stretches(knot{at + s.dur(-20*time.Minute, 20*time.Minute), rest}, knot{hours(6), busyRPS})
	} else {
		var parts []knot
		for left := hours(6); left > 0; {
			d := min(left, s.dur(30*time.Minute, 90*time.Minute))
			lvl := busyRPS * s.uniform(0.3, 1.2)
			if s.rng.IntN(4) == 0 {
				lvl = rest
			}
			parts = append(parts, knot{d, lvl})
			left -= d
		}
		ks = s.stretches(parts...)
	}
	s.traffic(s.schedule(ks...), nil)
	deployAt := start.Add(at)
	user := []string{"dev@example.com", "ops@example.com", "ci@example.com"}[s.rng.IntN(3)]
	version := 10 + s.rng.IntN(900)
	s.platform(deployAt, "api", fmt.Sprintf("Deploy %07x by user %s", s.rng.IntN(1<<28), user))
	s.platform(deployAt.Add(s.dur(200*time.Millisecond, 2*time.Second)), "api", fmt.Sprintf("Release v%d created by user %s", version, user))
	warmMB := level(a, s.uniform(30, 150))
	reqs := a.busyRPM * s.uniform(30, 90)
	variant := fmt.Sprintf("Release v%d at %s", version, at.Round(time.Minute))
	if leakyOld {
		variant += "; the old release leaked at rest:"
	}
	for _, d := range s.dynos {
		slope := s.uniform(25, 35)
		if leakyOld {
			variant += fmt.Sprintf(" %s +%.1f MB/h", d.name, slope)
		}
		s.run(d, policy{
			restarts: []restart{{deployAt.Add(s.dur(3*time.Second, 60*time.Second)), "deploy"}},
			age: func() time.Duration {
				if leakyOld {
					return s.dur(40*time.Minute, 2*time.Hour)
				}
				return s.dur(time.Hour, 20*time.Hour)
			},
			spec: func(boot int, _ time.Time) memSpec {
				if boot == 0 && leakyOld {
					// Warmed up by the evening's traffic before the window.
					sp := s.spec(a, LeakAtRest)
					s.warm(&sp, warmMB, reqs)
					sp.Served0 = reqs * 20
					sp.LeakPerHour = slope
					sp.Base = max(120, min(sp.Base, 480-sp.BootMB-warmMB*1.15-slope*(at+2*time.Hour).Hours()))
					return sp
				}
				if boot == 0 {
					sp := s.spec(a, Stable)
					s.warm(&sp, warmMB, reqs)
					sp.Served0 = reqs * 20
					return sp
				}
				sp := s.spec(a, Bloat)
				s.warm(&sp, warmMB*s.uniform(0.9, 1.1), reqs)
				return sp
			}})
		if leakyOld {
			quietGrowth(&d.boots[0], start, deployAt)
		}
	}
	s.h.Truth.Benign = !leakyOld
	s.h.Truth.Variant = variant
	return s.finish()
}

// Diurnal: 8 hours of a day/night traffic cycle (evening, the night's
// trough, the morning), warmed-up dynos, some cycled. Benign.
func Diurnal(seed uint64, start time.Time) History {
	s := newSim("diurnal", seed, start, 8)
	s.pickPaths(5 + s.rng.IntN(36))
	s.addWeb(3)
	a := s.shape(150, 350)
	peak := s.rps(3, a.busyRPM)
	floor := s.rps(3, a.trickleRPM)
	// Hours after the window's start when the night is deepest.
	trough := s.uniform(2, 6)
	sharp := s.uniform(1, 3)
	// Traffic falls towards the night's trough and rises after it, reaching
	// the day's level about four hours either side.
	var ks []knot
	for m := 0; m <= 8*60; m += 10 {
		h := float64(m) / 60
		f := math.Pow(min(1, math.Abs(h-trough)/4), sharp)
		ks = append(ks, knot{time.Duration(m) * time.Minute, floor + (peak-floor)*f})
	}
	s.traffic(s.schedule(ks...), nil)
	warmMB := level(a, s.uniform(30, 150))
	reqs := a.busyRPM * s.uniform(30, 90)
	variant := fmt.Sprintf("trough at %.1f h, %.0f rpm/dyno at peak; cycling:", trough, a.busyRPM)
	for _, d := range s.dynos {
		var rs []restart
		if s.rng.IntN(2) == 0 {
			at := start.Add(s.dur(30*time.Minute, hours(7.5)))
			rs = []restart{{at, "cycling"}}
			variant += fmt.Sprintf(" %s at %s", d.name, at.Sub(start).Round(time.Minute))
		}
		s.run(d, policy{restarts: rs, spec: func(boot int, _ time.Time) memSpec {
			sp := s.spec(a, Bloat)
			s.warm(&sp, warmMB*s.uniform(0.9, 1.1), reqs)
			if boot == 0 {
				sp.Growth, sp.Served0 = Stable, reqs*30
			}
			return sp
		}})
	}
	s.h.Truth.Benign = true
	s.h.Truth.Variant = variant
	return s.finish()
}

// TenDynos: ten web dynos through a busy stretch and a quiet one of 2½ hours
// or more; benign, or one dyno (restarted shortly before) leaks at rest.
func TenDynos(seed uint64, start time.Time) History {
	s := newSim("ten-dynos", seed, start, 6)
	s.pickPaths(5 + s.rng.IntN(36))
	s.addWeb(10)
	a := s.shape(150, 350)
	a.busyRPM = s.uniform(5, 15)
	busyRPS, rest := s.rps(10, a.busyRPM), s.rps(10, a.trickleRPM)
	busyFor := s.dur(30*time.Minute, 2*time.Hour)
	quietFor := s.dur(2*time.Hour+30*time.Minute, hours(6)-busyFor)
	parts := []knot{{busyFor, busyRPS}, {quietFor, rest}}
	if left := hours(6) - busyFor - quietFor; left > 0 {
		parts = append(parts, knot{left, busyRPS * s.uniform(0.5, 1)})
	}
	s.traffic(s.schedule(s.stretches(parts...)...), nil)
	leaky := -1
	if s.rng.IntN(2) == 0 {
		leaky = s.rng.IntN(10)
	}
	slope := s.uniform(20, 35)
	warmMB := level(a, s.uniform(30, 120))
	reqs := a.busyRPM * (busyFor - 15*time.Minute).Minutes()
	quietFrom, quietUntil := start.Add(busyFor+10*time.Minute), start.Add(busyFor+quietFor)
	variant := fmt.Sprintf("busy %s at %.0f rpm/dyno, quiet %s; ", rm(busyFor), a.busyRPM, rm(quietFor))
	if leaky < 0 {
		variant += "no leak"
	} else {
		variant += fmt.Sprintf("web.%d leaks +%.1f MB/h", leaky+1, slope)
	}
	for i, d := range s.dynos {
		s.run(d, policy{
			age: func() time.Duration {
				if i == leaky {
					return s.dur(10*time.Minute, time.Hour)
				}
				return s.dur(20*time.Minute, 10*time.Hour)
			},
			spec: func(int, time.Time) memSpec {
				sp := s.spec(a, Bloat)
				s.warmWithin(&sp, warmMB, reqs)
				if i == leaky {
					sp.Growth, sp.LeakPerHour = LeakAtRest, slope
					sp.Base = max(120, min(sp.Base, 470-warmMB-slope*6.5))
				}
				return sp
			}})
		if i == leaky {
			quietGrowth(&d.boots[0], quietFrom, quietUntil)
		}
	}
	s.h.Truth.Benign = leaky < 0
	s.h.Truth.Variant = variant
	return s.finish()
}
