package scenario

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// line is one log line before framing.
type line struct {
	t    time.Time
	seq  int // emission order: ties keep it
	pri  int
	app  string // heroku or app
	proc string // router, web.1, api…
	msg  string
}

// sim builds one history: traffic first (router lines, per dyno), then each
// dyno's memory walked sample by sample (runtime metrics, R14s, restarts).
type sim struct {
	rng     *rand.Rand
	h       History
	appID   string
	host    string
	command string
	lines   []line
	seq     int
	paths   []pathT
	dynos   []*dyno
	// sampleDrop is the chance a runtime-metrics sample goes missing.
	sampleDrop float64
	// mem reports: "Process running mem=…" beside each R14.
	memReports bool
	bodySpan   time.Duration
	bodyCount  int
}

type pathT struct {
	template  string // /users/:id
	method    string
	serviceMS float64
	bytes     int
	share     float64 // of the app's traffic
}

type request struct {
	t    time.Time
	path int
}

type dyno struct {
	name     string // web.1, worker.1
	web      bool
	phase    time.Duration // offset of its 20-s metrics grid
	requests []request     // routed to it, in time order
	boots    []Boot
}

func newSim(scenario string, seed uint64, start time.Time, hours float64) *sim {
	rng := rand.New(rand.NewPCG(seed, hashString(scenario)))
	s := &sim{rng: rng}
	names := []string{"shop", "acme-web", "bookings", "agile-ventures", "flawless-qa", "recipes", "ledger", "helpdesk", "atlas", "kanban"}
	s.h = History{
		Scenario: scenario, Seed: seed,
		App:   fmt.Sprintf("%s-%04x", names[rng.IntN(len(names))], rng.IntN(1<<16)),
		Start: start, End: start.Add(time.Duration(hours * float64(time.Hour))),
		QuotaMB: 512,
	}
	s.h.DrainToken = "d." + s.uuid()
	s.appID = fmt.Sprint(100000000 + rng.IntN(900000000))
	s.host = s.h.App + ".herokuapp.com"
	s.command = []string{"bundle exec puma -C config/puma.rb", "gunicorn myapp.wsgi --log-file -", "node server.js", "bin/rails server -p $PORT -e production"}[rng.IntN(4)]
	s.sampleDrop = []float64{0, 0.002, 0.01, 0.02}[rng.IntN(4)]
	s.memReports = rng.IntN(2) == 0
	// logplex posts a body per ~100 KiB or every few seconds; the bodies
	// here span a minute or three of a quiet app's lines (fewer, larger
	// POSTs keep a replay fast), never more than 100 KiB.
	s.bodySpan = time.Duration(60+rng.IntN(121)) * time.Second
	return s
}

func hashString(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func (s *sim) uuid() string {
	a, b := s.rng.Uint64(), s.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}

func (s *sim) hex32() string {
	return fmt.Sprintf("%016x%016x", s.rng.Uint64(), s.rng.Uint64())
}

func (s *sim) uniform(lo, hi float64) float64 { return lo + s.rng.Float64()*(hi-lo) }

func (s *sim) dur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))
}

func (s *sim) emit(t time.Time, pri int, app, proc, msg string) {
	s.lines = append(s.lines, line{t: t, seq: s.seq, pri: pri, app: app, proc: proc, msg: msg})
	s.seq++
}

// platform emits a line from "heroku <proc>".
func (s *sim) platform(t time.Time, proc, msg string) { s.emit(t, 45, "heroku", proc, msg) }

func (s *sim) addWeb(n int) {
	for i := 1; i <= n; i++ {
		s.dynos = append(s.dynos, &dyno{name: fmt.Sprintf("web.%d", i), web: true, phase: s.dur(0, 20*time.Second)})
	}
}

func (s *sim) addWorker() *dyno {
	d := &dyno{name: "worker.1", phase: s.dur(0, 20*time.Second)}
	s.dynos = append(s.dynos, d)
	return d
}

func (s *sim) web() []*dyno {
	var out []*dyno
	for _, d := range s.dynos {
		if d.web {
			out = append(out, d)
		}
	}
	return out
}

// The pool path templates are drawn from. ":id" becomes a number.
var (
	resources = []string{"users", "posts", "orders", "products", "reports", "invoices", "projects", "events", "comments",
		"articles", "teams", "accounts", "carts", "messages", "tickets", "photos", "courses", "videos", "lists", "bookings"}
	subs    = []string{"comments", "items", "members", "history", "export", "preview", "attachments", "settings"}
	statics = []string{"/", "/login", "/search", "/dashboard", "/about", "/pricing", "/signup", "/sitemap.xml", "/health", "/api/v1/status", "/feed.rss", "/robots.txt"}
)

// pickPaths draws n path templates and a Zipf-like traffic share for each.
func (s *sim) pickPaths(n int) {
	seen := map[string]bool{}
	for len(s.paths) < n {
		var p string
		r := resources[s.rng.IntN(len(resources))]
		switch k := s.rng.IntN(10); {
		case k < 2:
			p = statics[s.rng.IntN(len(statics))]
		case k < 5:
			p = "/" + r + "/:id"
		case k < 6:
			p = "/" + r
		case k < 7:
			p = "/" + r + "/:id/" + subs[s.rng.IntN(len(subs))]
		case k < 9:
			p = "/api/v1/" + r + "/:id"
		default:
			p = "/" + r + "/:id/edit"
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		method := "GET"
		if strings.HasPrefix(p, "/api/") && s.rng.IntN(3) == 0 || p == "/login" || p == "/signup" {
			method = "POST"
		}
		s.paths = append(s.paths, pathT{template: p, method: method,
			serviceMS: math.Exp(s.uniform(math.Log(5), math.Log(600))), bytes: 200 + s.rng.IntN(60000)})
	}
	// Zipf-like shares with a seed-drawn exponent, in a shuffled order.
	exp := s.uniform(0.4, 1.3)
	total := 0.0
	order := s.rng.Perm(n)
	for i, j := range order {
		s.paths[j].share = 1 / math.Pow(float64(i+1), exp)
		total += s.paths[j].share
	}
	for i := range s.paths {
		s.paths[i].share /= total
	}
	for _, p := range s.paths {
		s.h.Truth.Paths = append(s.h.Truth.Paths, p.template)
	}
}

// schedule is an app's request rate (requests per second, all dynos) over
// time: knots joined by straight lines, times a factor that wanders every 5
// minutes (traffic is never smooth).
type schedule struct {
	start  time.Time
	knots  []knot
	wobble []float64 // per 5 minutes
}

type knot struct {
	at  time.Duration
	rps float64
}

func (s *sim) schedule(knots ...knot) *schedule {
	n := int(s.h.End.Sub(s.h.Start)/(5*time.Minute)) + 2
	sc := &schedule{start: s.h.Start, knots: knots, wobble: make([]float64, n)}
	sd := s.uniform(0.05, 0.3)
	for i := range sc.wobble {
		sc.wobble[i] = math.Exp(s.rng.NormFloat64() * sd)
	}
	return sc
}

func (sc *schedule) base(d time.Duration) float64 {
	k := sc.knots
	if d <= k[0].at {
		return k[0].rps
	}
	for i := 1; i < len(k); i++ {
		if d <= k[i].at {
			f := float64(d-k[i-1].at) / float64(k[i].at-k[i-1].at)
			return k[i-1].rps + f*(k[i].rps-k[i-1].rps)
		}
	}
	return k[len(k)-1].rps
}

func (sc *schedule) rate(t time.Time) float64 {
	d := t.Sub(sc.start)
	return sc.base(d) * sc.wobble[min(max(int(d/(5*time.Minute)), 0), len(sc.wobble)-1)]
}

// stretches builds knots for a sequence of (duration, rps) stretches with
// ramps of a few minutes between them.
func (s *sim) stretches(parts ...knot) []knot {
	var ks []knot
	at := time.Duration(0)
	for i, p := range parts {
		ramp := s.dur(3*time.Minute, 12*time.Minute)
		if i == 0 {
			ks = append(ks, knot{0, p.rps})
		} else {
			ks = append(ks, knot{at + ramp, p.rps})
		}
		at += p.at
		ks = append(ks, knot{at, p.rps})
	}
	return ks
}

// pathMults gives each path its own schedule: stretches of 10–45 minutes at
// a level of its own, so paths' traffic does not move together.
func (s *sim) pathMults() [][]float64 {
	n := int(s.h.End.Sub(s.h.Start)/time.Minute) + 1
	out := make([][]float64, len(s.paths))
	levels := []float64{0, 0.2, 0.5, 1, 1, 1.5, 2, 3}
	for p := range out {
		out[p] = make([]float64, n)
		for m := 0; m < n; {
			l := levels[s.rng.IntN(len(levels))]
			for k := 10 + s.rng.IntN(36); k > 0 && m < n; k-- {
				out[p][m] = l
				m++
			}
		}
	}
	return out
}

// traffic generates router lines for the web dynos: each request of each
// path at rate sc × share × mult (mult nil: 1), routed to a random web dyno.
func (s *sim) traffic(sc *schedule, mult [][]float64) {
	webs := s.web()
	if len(webs) == 0 {
		return
	}
	const slot = 10 * time.Second
	for t := s.h.Start; t.Before(s.h.End); t = t.Add(slot) {
		rate := sc.rate(t)
		m := int(t.Sub(s.h.Start) / time.Minute)
		for p := range s.paths {
			lambda := rate * s.paths[p].share * slot.Seconds()
			if mult != nil {
				lambda *= mult[p][m]
			}
			for n := s.poisson(lambda); n > 0; n-- {
				at := t.Add(time.Duration(s.rng.Int64N(int64(slot))))
				d := webs[s.rng.IntN(len(webs))]
				d.requests = append(d.requests, request{at, p})
				s.routerLine(at, d.name, p)
			}
		}
	}
	for _, d := range webs {
		sort.Slice(d.requests, func(i, j int) bool { return d.requests[i].t.Before(d.requests[j].t) })
	}
}

func (s *sim) poisson(lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		return max(0, int(math.Round(lambda+s.rng.NormFloat64()*math.Sqrt(lambda))))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= s.rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func (s *sim) routerLine(t time.Time, dyno string, p int) {
	pt := s.paths[p]
	path := pt.template
	for strings.Contains(path, ":id") {
		path = strings.Replace(path, ":id", fmt.Sprint(1+s.rng.IntN(99999)), 1)
	}
	if pt.method == "GET" && s.rng.IntN(20) == 0 {
		path += fmt.Sprintf("?page=%d", 2+s.rng.IntN(9))
	}
	service := int(pt.serviceMS * math.Exp(s.rng.NormFloat64()*0.5))
	status, bytes := 200, pt.bytes/2+s.rng.IntN(pt.bytes+1)
	switch r := s.rng.IntN(200); {
	case r == 0:
		status, bytes = 500, 1477
	case r < 4:
		status, bytes = 404, 1564
	case r < 12 && pt.method == "GET":
		status, bytes = 304, 0
	case pt.method == "POST" && r < 100:
		status = 302
	}
	fwd := fmt.Sprintf("%d.%d.%d.%d", 1+s.rng.IntN(223), s.rng.IntN(256), s.rng.IntN(256), 1+s.rng.IntN(254))
	q := ""
	if strings.Contains(path, "?") {
		q = `"`
	}
	s.emit(t, 158, "heroku", "router", fmt.Sprintf(`at=info method=%s path=%s%s%s host=%s request_id=%s fwd="%s" dyno=%s connect=%dms service=%dms status=%d bytes=%d protocol=https`,
		pt.method, q, path, q, s.host, s.uuid(), fwd, dyno, s.rng.IntN(3), service, status, bytes))
}

// memSpec is how one boot's memory behaves.
type memSpec struct {
	Growth  Growth
	Base    float64       // MB right after boot, app loaded
	BootMB  float64       // more, loaded over the first minutes…
	BootTau time.Duration // …with this time constant
	// Warm-up with requests served: WarmMB more, e-folding every WarmReqs
	// requests; a slow tail TailMB over TailReqs (still levels off).
	WarmMB, WarmReqs float64
	TailMB, TailReqs float64
	// Leak with time: MB/h from LeakFrom (after the boot started).
	LeakPerHour float64
	LeakFrom    time.Duration
	// Leak per request: of path LeakPath (index; -1: none), or of any path.
	LeakPath   int
	LeakPerReq float64
	LeakPerAny float64
	Served0    float64       // requests served before the window (the boot up at its start)
	GCPeriod   time.Duration // sawtooth period at full load (at rest it stretches ×2)
	GCAmp      float64       // sawtooth peak to peak, MB
	Noise      noise
	Busy       bool
}

// noise is the jitter around a boot's memory.
type noise struct {
	Sigma     float64 // white noise, MB
	ARSigma   float64 // a mean-reverting wander, MB…
	ARRho     float64 // …with this correlation sample to sample
	SpikeProb float64 // chance a sample starts a spike…
	SpikeMB   float64 // …of up to this many MB, lasting 1–3 samples
}

func (s *sim) noise() noise {
	n := noise{Sigma: s.uniform(0.3, 3)}
	switch s.rng.IntN(3) {
	case 1:
		n.ARSigma, n.ARRho = s.uniform(1, 4), s.uniform(0.85, 0.98)
	case 2:
		n.SpikeProb, n.SpikeMB = s.uniform(0.005, 0.03), s.uniform(8, 40)
	}
	return n
}

// restart is a planned restart of one dyno.
type restart struct {
	at     time.Time
	reason string // cycling, restart, deploy
}

// policy decides a dyno's restarts and each boot's memory.
type policy struct {
	restarts []restart // planned, in order
	spec     func(boot int, start time.Time) memSpec
	// overRestart: the operator restarts the dyno this long after it
	// first goes over the quota (0: nobody does).
	overRestart func() time.Duration
	// nearShare/nearRestart: … or this long after it first passes
	// nearShare of the quota (0: nobody does).
	nearShare   float64
	nearRestart func() time.Duration
	// age: how long before the window the first boot began (nil: 20 min
	// to 10 h).
	age func() time.Duration
}

// bootState is one boot's memory as it evolves.
type bootState struct {
	spec    memSpec
	start   time.Time
	served  float64
	reqMB   float64
	gcPhase float64
	ar      float64
	spike   float64
	spikeN  int
	cache   float64
	pgin    float64
	// operatorAt: when someone restarts the dyno, decided once a boot
	// (when it first goes over, or near, the quota).
	operatorAt         time.Time
	overSeen, nearSeen bool
}

func (b *bootState) level(t time.Time) float64 {
	sp := b.spec
	age := t.Sub(b.start)
	v := sp.Base
	if sp.BootTau > 0 {
		v += sp.BootMB * (1 - math.Exp(-float64(age)/float64(sp.BootTau)))
	}
	if sp.WarmReqs > 0 {
		v += sp.WarmMB * (1 - math.Exp(-b.served/sp.WarmReqs))
	}
	if sp.TailReqs > 0 {
		v += sp.TailMB * (1 - math.Exp(-b.served/sp.TailReqs))
	}
	if sp.LeakPerHour > 0 && age > sp.LeakFrom {
		v += sp.LeakPerHour * (age - sp.LeakFrom).Hours()
	}
	return v + b.reqMB
}

// run walks one dyno's memory, sample by sample, with its restarts.
func (s *sim) run(d *dyno, p policy) {
	quota := s.h.QuotaMB
	t0 := s.h.Start.Add(d.phase)
	ri := 0 // next request
	planned := append([]restart(nil), p.restarts...)
	var b *bootState
	var bt *Boot
	var over *Episode
	lastOver := false
	startBoot := func(at time.Time) {
		spec := p.spec(len(d.boots), at)
		b = &bootState{spec: spec, start: at, served: spec.Served0, gcPhase: s.rng.Float64(), cache: s.uniform(0.1, 6),
			pgin: s.uniform(2e4, 2e5)}
		d.boots = append(d.boots, Boot{Dyno: d.name, Boot: s.uuid(), Start: at, Growth: spec.Growth, Busy: spec.Busy})
		bt = &d.boots[len(d.boots)-1]
		switch spec.Growth {
		case LeakAtRest, Leak, OverTime:
			bt.SlopeMBPerHour = spec.LeakPerHour
		case PerRequest:
			bt.MBPerRequest = max(spec.LeakPerReq, spec.LeakPerAny)
		case Bloat:
			bt.LevelMB = spec.Base + spec.BootMB + spec.WarmMB + spec.TailMB
		}
		over, lastOver = nil, false
	}
	closeEpisode := func(byRestart bool) {
		if over != nil {
			over.EndedByRestart = byRestart && lastOver
			bt.OverQuota = append(bt.OverQuota, *over)
			over = nil
		}
	}
	// The boot up at the start of the window began a while before it.
	age := s.dur(20*time.Minute, 10*time.Hour)
	if p.age != nil {
		age = p.age()
	}
	startBoot(s.h.Start.Add(-age))
	lastSample := t0
	for k := 0; ; k++ {
		nominal := t0.Add(time.Duration(k) * 20 * time.Second)
		if !nominal.Before(s.h.End) {
			break
		}
		due, reason := b.operatorAt, "restart"
		if len(planned) > 0 && (due.IsZero() || planned[0].at.Before(due)) {
			due, reason = planned[0].at, planned[0].reason
		}
		if !due.IsZero() && !due.After(nominal) {
			for len(planned) > 0 && !planned[0].at.After(due.Add(time.Minute)) {
				planned = planned[1:] // one restart covers what is due with it
			}
			up := s.restartLines(d.name, due, reason)
			closeEpisode(true)
			bt.End, bt.EndReason = due, reason
			startBoot(up.Add(-s.dur(3*time.Second, 8*time.Second)))
			// The first sample comes 5–25 s after it is up; the grid
			// follows from there.
			t0, k = up.Add(s.dur(5*time.Second, 25*time.Second)), -1
			lastSample = up
			continue
		}
		at := nominal.Add(s.dur(-time.Second, time.Second))
		if at.Before(s.h.Start) {
			at = s.h.Start.Add(s.dur(0, time.Second))
		}
		recent := 0
		for ri < len(d.requests) && !d.requests[ri].t.After(at) {
			r := d.requests[ri]
			ri++
			if r.t.Before(b.start) {
				continue
			}
			b.served++
			if b.spec.LeakPath == r.path {
				b.reqMB += b.spec.LeakPerReq
			}
			b.reqMB += b.spec.LeakPerAny
			recent++
		}
		// The GC sawtooth: allocation drives it, so at rest it crawls.
		dt := at.Sub(lastSample)
		lastSample = at
		activity := min(1, float64(recent)/max(0.2, dt.Minutes())/20)
		if b.spec.GCPeriod > 0 {
			b.gcPhase += float64(dt) / float64(b.spec.GCPeriod) * (0.5 + 0.5*activity)
			b.gcPhase -= math.Floor(b.gcPhase)
		}
		clean := b.level(at) + b.spec.GCAmp*(b.gcPhase-0.5)
		n := b.spec.Noise
		b.ar = n.ARRho*b.ar + n.ARSigma*math.Sqrt(1-n.ARRho*n.ARRho)*s.rng.NormFloat64()
		if b.spikeN > 0 {
			b.spikeN--
		} else {
			b.spike = 0
			if s.rng.Float64() < n.SpikeProb {
				b.spike, b.spikeN = s.uniform(0.3, 1)*n.SpikeMB, s.rng.IntN(3)
			}
		}
		total := max(clean+n.Sigma*s.rng.NormFloat64()+b.ar+b.spike, 50)
		if s.rng.Float64() < s.sampleDrop {
			continue // lost on the way
		}
		s.sample(d, bt, b, at, total)
		bt.Samples++
		bt.PeakMB = max(bt.PeakMB, total)
		lastOver = total > quota
		if total > quota {
			if over == nil {
				over = &Episode{From: at}
			}
			over.To = at
			if !b.overSeen {
				b.overSeen = true
				if p.overRestart != nil {
					if a := p.overRestart(); a > 0 && (b.operatorAt.IsZero() || at.Add(a).Before(b.operatorAt)) {
						b.operatorAt = at.Add(a)
					}
				}
			}
		}
		if p.nearShare > 0 && total > p.nearShare*quota && !b.nearSeen {
			b.nearSeen = true
			if p.nearRestart != nil {
				if a := p.nearRestart(); a > 0 && (b.operatorAt.IsZero() || at.Add(a).Before(b.operatorAt)) {
					b.operatorAt = at.Add(a)
				}
			}
		}
	}
	closeEpisode(false)
}

// sample emits one runtime-metrics sample (memory, then load), and the R14
// (with, for some apps, a "Process running mem=" report) when over quota.
func (s *sim) sample(d *dyno, bt *Boot, b *bootState, at time.Time, total float64) {
	quota := s.h.QuotaMB
	b.cache = max(0.05, b.cache+s.rng.NormFloat64()*0.2)
	cache := min(b.cache, total*0.05)
	swap := 0.0
	if total > quota*0.985 {
		swap = max(0, total-cache-quota*s.uniform(0.975, 0.995))
	}
	rss := total - cache - swap
	b.pgin += max(0, rss*256*0.02) + s.uniform(50, 800)
	pgout := max(0, b.pgin-rss*256)
	id := fmt.Sprintf("heroku.%s.%s", s.appID, bt.Boot)
	s.platform(at, d.name, fmt.Sprintf("source=%s dyno=%s sample#memory_total=%.2fMB sample#memory_rss=%.2fMB sample#memory_cache=%.2fMB sample#memory_swap=%.2fMB sample#memory_pgpgin=%.0fpages sample#memory_pgpgout=%.0fpages sample#memory_quota=%.2fMB",
		d.name, id, total, rss, cache, swap, b.pgin, pgout, quota))
	l1 := max(0, s.rng.NormFloat64()*0.05+0.02)
	if d.web {
		l1 += float64(len(d.requests)) / max(1, s.h.End.Sub(s.h.Start).Minutes()) * 0.01
	}
	s.platform(at.Add(time.Duration(1+s.rng.IntN(200))*time.Millisecond), d.name,
		fmt.Sprintf("source=%s dyno=%s sample#load_avg_1m=%.2f sample#load_avg_5m=%.2f sample#load_avg_15m=%.2f", d.name, id, l1, l1*0.8, l1*0.6))
	if total > quota {
		et := at.Add(s.dur(100*time.Millisecond, 2*time.Second))
		if s.memReports {
			s.platform(et, d.name, fmt.Sprintf("Process running mem=%.0fM(%.1f%%)", total, 100*total/quota))
		}
		s.platform(et.Add(time.Millisecond), d.name, "Error R14 (Memory quota exceeded)")
	}
}

// restartLines emits a dyno's restart from at and returns when the new
// process is up.
func (s *sim) restartLines(proc string, at time.Time, reason string) time.Time {
	t := at
	step := func(lo, hi time.Duration) time.Time { t = t.Add(s.dur(lo, hi)); return t }
	switch reason {
	case "cycling":
		s.platform(t, proc, "Cycling")
	default:
		s.platform(t, proc, "Restarting")
	}
	s.platform(step(50*time.Millisecond, 300*time.Millisecond), proc, "State changed from up to starting")
	s.platform(step(500*time.Millisecond, 2*time.Second), proc, "Stopping all processes with SIGTERM")
	if strings.Contains(s.command, "puma") {
		s.emit(step(10*time.Millisecond, 200*time.Millisecond), 190, "app", proc, "[4] - Gracefully stopping, waiting for requests to finish")
	}
	status := []int{0, 143}[s.rng.IntN(2)]
	s.platform(step(300*time.Millisecond, 3*time.Second), proc, fmt.Sprintf("Process exited with status %d", status))
	s.platform(step(1*time.Second, 6*time.Second), proc, "Starting process with command `"+s.command+"`")
	if strings.Contains(s.command, "puma") {
		s.emit(step(500*time.Millisecond, 2*time.Second), 190, "app", proc, "[4] Puma starting in cluster mode...")
	}
	return s.platformAt(step(3*time.Second, 12*time.Second), proc, "State changed from starting to up")
}

func (s *sim) platformAt(t time.Time, proc, msg string) time.Time {
	s.platform(t, proc, msg)
	return t
}

// finish sorts the lines, frames them into bodies, and collects the truth.
func (s *sim) finish() History {
	sort.SliceStable(s.lines, func(i, j int) bool {
		if !s.lines[i].t.Equal(s.lines[j].t) {
			return s.lines[i].t.Before(s.lines[j].t)
		}
		return s.lines[i].seq < s.lines[j].seq
	})
	const maxBytes = 100 << 10
	var buf bytes.Buffer
	var cur Body
	flush := func() {
		if cur.MsgCount == 0 {
			return
		}
		cur.Data = append([]byte(nil), buf.Bytes()...)
		cur.FrameID = s.hex32()
		s.h.Bodies = append(s.h.Bodies, cur)
		buf.Reset()
		cur = Body{}
	}
	var frame []byte
	for _, l := range s.lines {
		if !l.t.Before(s.h.End) {
			continue
		}
		frame = fmt.Appendf(frame[:0], "<%d>1 %s host %s %s - %s\n", l.pri, l.t.UTC().Format("2006-01-02T15:04:05.000000+00:00"), l.app, l.proc, l.msg)
		if cur.MsgCount > 0 && (buf.Len()+len(frame)+8 > maxBytes || l.t.Sub(cur.From) >= s.bodySpan) {
			flush()
		}
		if cur.MsgCount == 0 {
			cur.From = l.t
		}
		fmt.Fprintf(&buf, "%d ", len(frame))
		buf.Write(frame)
		cur.To = l.t
		cur.MsgCount++
		s.h.Lines++
	}
	flush()
	// The truth in the log's precision: microseconds.
	us := func(t *time.Time) { *t = t.Truncate(time.Microsecond) }
	for _, d := range s.dynos {
		for _, b := range d.boots {
			us(&b.Start)
			us(&b.End)
			us(&b.QuietGrowthFrom)
			us(&b.QuietGrowthUntil)
			for i := range b.OverQuota {
				us(&b.OverQuota[i].From)
				us(&b.OverQuota[i].To)
			}
			s.h.Truth.Boots = append(s.h.Truth.Boots, b)
		}
	}
	return s.h
}
