package alerts

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// forApp returns obs with App set to app.
func forApp(app string, obs []Observation) []Observation {
	out := slices.Clone(obs)
	for i := range out {
		out[i].App = app
	}
	return out
}

// perApp groups alerts by app, as "rule:state:dyno" strings.
func perApp(got []Alert) map[string][]string {
	m := map[string][]string{}
	for _, a := range got {
		m[a.App] = append(m[a.App], string(a.Rule)+":"+string(a.State)+":"+a.Dyno+"@"+a.Time.Format(time.TimeOnly))
	}
	return m
}

// TestAppsKeepTheirOwnClocks: one app's lines delivered 10 minutes behind
// another's (a lagging drain), or an import of last week's lines for a third
// app, change no app's alerts; a dyno of the lagging app is not declared
// silent while its lines still arrive.
func TestAppsKeepTheirOwnClocks(t *testing.T) {
	leak := merge(
		memSeries("web.1", "b1", t0, 4*time.Hour, 3, func(h float64) float64 { return 250 + 20*h }),
		traffic("web.1", t0, 15*time.Minute, 60), // busy after its boot, then at rest
		traffic("web.1", t0.Add(15*time.Minute), 4*time.Hour-15*time.Minute, 1),
	)
	over := memSeries("web.2", "b2", t0, 4*time.Hour, 3, func(h float64) float64 {
		if h > 1 && h < 1.5 {
			return 530
		}
		return 300
	})
	a, b := forApp("a", leak), forApp("b", over)
	old := forApp("old", memSeries("worker.1", "b3", t0.Add(-7*24*time.Hour), 4*time.Hour, 3, func(h float64) float64 { return 100 + 40*h }))

	inStep := merge(a, b)
	alone := map[string][]string{"a": perApp(feed(Config{}, a))["a"], "b": perApp(feed(Config{}, b))["b"]}
	if len(alone["a"]) == 0 || len(alone["b"]) == 0 {
		t.Fatalf("the histories alert nothing alone: %v", alone)
	}

	// b lags 10 minutes behind a: each of b's lines arrives with a's lines
	// of 10 minutes later.
	var lagging []Observation
	j := 0
	for _, o := range a {
		for j < len(b) && !b[j].Time.Add(10*time.Minute).After(o.Time) {
			lagging = append(lagging, b[j])
			j++
		}
		lagging = append(lagging, o)
	}
	lagging = append(lagging, b[j:]...)

	// An import of another app's last week, interleaved with both.
	var imported []Observation
	for i, o := range inStep {
		imported = append(imported, o)
		if k := i * len(old) / len(inStep); k < len(old) && i%2 == 0 {
			imported = append(imported, old[k])
		}
	}

	for name, obs := range map[string][]Observation{"in step": inStep, "b lagging 10 min": lagging, "with an import": imported} {
		got := perApp(feed(Config{}, obs))
		for _, app := range []string{"a", "b"} {
			if strings.Join(got[app], " ") != strings.Join(alone[app], " ") {
				t.Errorf("%s: app %s got\n%v\nwant\n%v", name, app, got[app], alone[app])
			}
		}
	}
}

// TestSilentAppResolvedByWallClock: an app whose lines stop arriving has its
// open episodes resolved after ALERT_APP_SILENT_AFTER of wall time, saying
// so; an app still sending is not touched.
func TestSilentAppResolvedByWallClock(t *testing.T) {
	e := NewEngine(Config{AppSilentAfter: 20 * time.Minute})
	wall := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	e.Tick(wall)
	var got []Alert
	for i := 0; i < 10; i++ {
		tm := t0.Add(time.Duration(i) * 20 * time.Second)
		got = append(got, e.Observe(mem("web.1", "b", tm, 600, 512))...)
		o := mem("web.1", "b", tm, 300, 512)
		o.App = "other"
		e.Observe(o)
	}
	expect(t, got, "over-quota:firing:web.1")
	got = e.Tick(wall.Add(19 * time.Minute))
	if len(got) != 0 {
		t.Fatalf("resolved early: %v", rulesOf(got))
	}
	o := mem("web.1", "b", t0.Add(5*time.Minute), 300, 512)
	o.App = "other"
	e.Observe(o) // "other" still sends; "app" does not
	got = e.Tick(wall.Add(21 * time.Minute))
	expect(t, got, "over-quota:resolved:web.1")
	if !strings.Contains(got[0].Reason, "no logs from app for 21m") || got[0].App != "app" {
		t.Errorf("reason %q", got[0].Reason)
	}
	if len(e.Tick(wall.Add(30*time.Minute))) != 0 || e.apps["other"] == nil {
		t.Error("the app still sending was touched")
	}
}

// TestWorseIsAFollowUp: an over-quota episode that climbs another tenth of
// the quota gets one follow-up, not a new episode; one that holds steady
// gets none.
func TestWorseIsAFollowUp(t *testing.T) {
	var obs []Observation
	for i, mb := range []float64{520, 525, 530, 560, 575, 580, 585, 640} {
		o := mem("web.1", "b", t0.Add(time.Duration(i)*20*time.Second), mb, 512)
		o.SwapMB = mb - 512
		obs = append(obs, o)
	}
	got := feed(Config{}, obs)
	expect(t, got, "over-quota:firing:web.1", "over-quota:worse:web.1", "over-quota:worse:web.1")
	if !strings.Contains(got[0].Summary, "520 MB of 512 MB (101.6%), 8 MB in swap") {
		t.Errorf("firing %q", got[0].Summary)
	}
	if !strings.Contains(got[1].Summary, "Worse:") || !strings.Contains(got[1].Summary, "575 MB") || got[1].Started != t0 {
		t.Errorf("follow-up %q from %v", got[1].Summary, got[1].Started)
	}
}

// TestRestartEndsALeakEpisode: a leak alert resolves when its boot ends,
// saying so, and the next boot is judged from nothing (no leak carried over).
func TestRestartEndsALeakEpisode(t *testing.T) {
	obs := memSeries("worker.1", "b1", t0, 3*time.Hour, 3, func(h float64) float64 { return 100 + 40*h })
	obs = append(obs, memSeries("worker.1", "b2", t0.Add(3*time.Hour+time.Minute), 30*time.Minute, 3, func(h float64) float64 { return 100 })...)
	got := feed(Config{}, obs)
	expect(t, got, "leak:firing:worker.1", "leak:resolved:worker.1")
	if !strings.Contains(got[1].Reason, "restarted") || !strings.Contains(got[1].Reason, "watched from scratch") {
		t.Errorf("reason %q", got[1].Reason)
	}
}

// TestLateSampleOfAnEndedBoot: a sample of the previous boot arriving after
// the new boot started does not restart the series again.
func TestLateSampleOfAnEndedBoot(t *testing.T) {
	e := NewEngine(Config{})
	e.Observe(mem("web.1", "old", t0, 600, 512))
	e.Observe(mem("web.1", "new", t0.Add(time.Minute), 200, 512))
	e.Observe(mem("web.1", "new", t0.Add(2*time.Minute), 201, 512))
	if got := e.Observe(mem("web.1", "old", t0.Add(30*time.Second), 600, 512)); len(got) != 0 {
		t.Errorf("late sample fired %v", rulesOf(got))
	}
	if d := e.apps["app"].dynos["web.1"]; d.boot != "new" || len(d.points) != 2 {
		t.Errorf("boot %s with %d points", d.boot, len(d.points))
	}
}

// TestDynosPerAppAreCapped: 100,000 one-off dynos keep at most MaxDynos in
// the engine, the quietest forgotten first; a dyno with an open episode
// stays.
func TestDynosPerAppAreCapped(t *testing.T) {
	e := NewEngine(Config{MaxDynos: 100})
	got := e.Observe(mem("web.1", "b", t0, 600, 512))
	expect(t, got, "over-quota:firing:web.1")
	for i := 0; i < 100000; i++ {
		e.Observe(Observation{Kind: ObsRequests, App: "app", Dyno: fmt.Sprintf("run.%d", i), Time: t0.Add(time.Duration(i) * time.Millisecond), N: 1})
	}
	if n := len(e.apps["app"].dynos); n != 100 || e.Evicted != 100000-99 {
		t.Errorf("%d dynos, %d evicted", n, e.Evicted)
	}
	if e.apps["app"].dynos["web.1"] == nil || e.apps["app"].dynos["run.99999"] == nil || e.apps["app"].dynos["run.0"] != nil {
		t.Error("evicted the wrong dynos")
	}
}

// TestEngineStateBoundedInBytes: dynos with long series on two apps keep
// the engine's estimated memory under MaxBytes; the app with the most
// dynos loses its quietest first, the other app keeps its own, and the
// estimate goes back to zero when every dyno is forgotten.
func TestEngineStateBoundedInBytes(t *testing.T) {
	e := NewEngine(Config{MaxBytes: 1 << 20})
	wall := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	e.Tick(wall)
	for i := 0; i < 5; i++ {
		for s := 0; s < 300; s++ {
			o := mem(fmt.Sprintf("web.%d", i), "b", t0.Add(time.Duration(s)*20*time.Second), 200, 512)
			o.App = "quiet"
			e.Observe(o)
		}
	}
	quiet := e.Bytes()
	for s := 0; s < 30; s++ { // 2,000 dynos reporting every 20 s
		for i := 0; i < 2000; i++ {
			e.Observe(mem(fmt.Sprintf("run.%d", i), "b", t0.Add(time.Duration(s)*20*time.Second+time.Duration(i)*time.Millisecond), 100, 512))
			if e.Bytes() > 1<<20 {
				t.Fatalf("round %d, dyno %d: %d bytes", s, i, e.Bytes())
			}
		}
	}
	// Fewer than MaxDynos (1000): the bytes bound it.
	if n := len(e.apps["app"].dynos); n < 100 || n >= 1000 || len(e.apps["quiet"].dynos) != 5 ||
		e.apps["app"].dynos["run.1999"] == nil || e.apps["app"].dynos["run.0"] != nil {
		t.Errorf("%d evicted, quiet has %d dynos, app %d", e.Evicted, len(e.apps["quiet"].dynos), len(e.apps["app"].dynos))
	}
	if quiet <= 0 || e.Bytes() < quiet {
		t.Errorf("estimate: %d bytes for 5 dynos, %d now", quiet, e.Bytes())
	}
	e.Tick(wall.Add(time.Hour)) // both apps silent: every dyno forgotten
	if len(e.apps) != 0 || e.Bytes() != 0 {
		t.Errorf("after every app went silent: %d apps, %d bytes", len(e.apps), e.Bytes())
	}
}

func TestPercent(t *testing.T) {
	for p, want := range map[float64]string{100.02: "100.1%", 100.4: "100.4%", 100: "100.0%", 99.97: "99.9%", 93.2: "93%", 2000: "2000%"} {
		if got := Percent(p); got != want {
			t.Errorf("Percent(%v) = %s, want %s", p, got, want)
		}
	}
	if got := memText(512.4, 7, 512); got != "512.4 MB of 512 MB (100.1%), 7 MB in swap" {
		t.Errorf("memText: %s", got)
	}
}
