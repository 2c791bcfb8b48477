package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/api"
	"github.com/drainwatch/drainwatch/store"
)

// A worker with 50 R14s and its runtime metrics off
// (testdata/no-metrics.log): dynos lists it beside web.1, says it has no
// memory samples, and says why that may be.
func TestDynosWithoutMetrics(t *testing.T) {
	env := map[string]string{"DRAINWATCH_DB": filepath.Join(t.TempDir(), "nm.db")}
	if code, _, errOut := run(t, env, "", "import", "--app", "nm", "--quiet", "testdata/no-metrics.log"); code != 0 {
		t.Fatalf("import: %d %s", code, errOut)
	}
	code, out, errOut := run(t, env, "", "dynos", "--utc")
	if code != 0 {
		t.Fatalf("dynos: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "nm   web.1") {
		t.Fatalf("want web.1 and worker.1:\n%s", out)
	}
	worker := strings.Fields(lines[2])
	if strings.Join(worker, " ") != "nm worker.1 2026-11-20 10:00:03Z 2026-11-20 10:16:23Z - - - no memory samples* - 50" {
		t.Errorf("worker.1's row: %q", lines[2])
	}
	if !strings.Contains(errOut, "* nm/worker.1: error lines but no memory samples") || !strings.Contains(errOut, "log-runtime-metrics") {
		t.Errorf("no note on stderr: %q", errOut)
	}
	code, out, _ = run(t, env, "", "dynos", "--json")
	var dynos []struct {
		Dyno     string `json:"dyno"`
		Errors   int    `json:"memory_errors"`
		NoMemory bool   `json:"no_memory_samples"`
	}
	if err := json.Unmarshal([]byte(out), &dynos); err != nil || code != 0 || len(dynos) != 2 || dynos[0].NoMemory ||
		dynos[1].Dyno != "worker.1" || !dynos[1].NoMemory || dynos[1].Errors != 50 {
		t.Errorf("--json: %d %v %s", code, err, out)
	}
}

// Through the real server, an app with more dynos than the limits: /api/dynos
// lists the ones with the highest memory and one (other) row summing the rest
// (how many, peak, their R14/R15, not those of the dynos listed), as the
// dynos without a limit say; the page charts the MaxCharts highest, from the
// list its verdicts read (api.Limits.Dynos, longer), and sums up the rest
// in one line.
func TestTopDynosThroughServer(t *testing.T) {
	s, _ := startLoggedServer(t, serveConfig{APIToken: "tok", MaxCharts: 3, Limits: api.Limits{Dynos: 8}})
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var b bytes.Buffer
	for i := 1; i <= 30; i++ {
		for j, mb := range []int{100 + i, 90 + i} { // run.i peaks at 100+i MB
			frame(&b, fmt.Sprintf(`<45>1 %s host heroku run.%d - source=run.%d dyno=heroku.1.b%d sample#memory_total=%d.00MB sample#memory_quota=512.00MB`,
				t0.Add(time.Duration(i+j*60)*time.Second).Format("2006-01-02T15:04:05.000000+00:00"), i, i, i, mb))
		}
	}
	// R14s of a dyno in no list, of one in the verdicts' 8 but not charted,
	// and of one charted.
	for _, d := range []string{"run.5", "run.5", "run.25", "run.30"} {
		frame(&b, fmt.Sprintf(`<45>1 %s host heroku %s - Error R14 (Memory quota exceeded)`, t0.Add(2*time.Minute).Format(time.RFC3339), d))
	}
	if code, ans := postBody(t, s, "shop", b.Bytes(), "top"); code != 200 {
		t.Fatalf("%d %s", code, ans)
	}

	var top, all []store.DynoSummary
	getAPI(t, s, "dynos?app=shop&limit=3", &top)
	getAPI(t, s, "dynos?app=shop&limit=1000", &all)
	var got []string
	for _, d := range top {
		got = append(got, d.Dyno)
	}
	if strings.Join(got, " ") != "run.28 run.29 run.30 (other)" || len(all) != 30 {
		t.Fatalf("limit=3: %v (of %d)", got, len(all))
	}
	if o := top[3]; o.Dynos != 27 || *o.PeakMB != 127 || o.Errors != 3 || !o.First.Equal(t0.Add(time.Second)) || !o.Last.Equal(t0.Add(87*time.Second)) {
		t.Errorf("(other): %d dynos, peak %v, %d R14/R15, %s to %s; want 27, 127, 3 (run.5's and run.25's), +1s to +87s", o.Dynos, *o.PeakMB, o.Errors, o.First, o.Last)
	}
	want, _ := json.Marshal(store.FoldDynos(all, 3))
	if js, _ := json.Marshal(top); string(js) != string(want) {
		t.Errorf("limit=3:\n%s\nwant, from the dynos without a limit:\n%s", js, want)
	}

	req, _ := http.NewRequest("GET", "http://"+s.Addr()+"/?app=shop", nil)
	req.AddCookie(&http.Cookie{Name: "drainwatch_token", Value: "tok"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	html := string(page)
	if n := strings.Count(html, `<section class="dyno"`); resp.StatusCode != 200 || n != 3 {
		t.Fatalf("%d, %d charts; want 3", resp.StatusCode, n)
	}
	for _, d := range []string{"run.28", "run.29", "run.30"} {
		if !strings.Contains(html, `id="dyno-`+d+`"`) {
			t.Errorf("no chart for %s, one of the three highest", d)
		}
	}
	if !strings.Contains(html, "27 more dynos in this range are not charted") || !strings.Contains(html, "peak 127 MB, 3 R14/R15") {
		t.Errorf("no line for the 27 others (peak 127 MB, 3 R14/R15):\n%s", html)
	}
}
