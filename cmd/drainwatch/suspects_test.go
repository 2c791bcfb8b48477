package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// leakyTraffic is logplex bodies (one per 3 minutes of log time) for 3
// dynos over 4 hours, restarting every 2 hours: router lines for six path
// templates in busy and quiet stretches, memory samples every 20 s with
// ±3 MB of GC noise and 2 MB/h of drift. Each request of leaky adds leakMB.
func leakyTraffic(seed uint64, leaky string, leakMB float64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 5))
	paths := []string{"/", "/users/%d", "/search", "/reports/export", "/api/items/%d", "/leaky/%d"}
	t0 := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	var bodies [][]byte
	var buf bytes.Buffer
	frame := func(t time.Time, app, proc, msg string) {
		m := fmt.Sprintf("<158>1 %s host %s %s - %s", t.Format("2006-01-02T15:04:05.000000+00:00"), app, proc, msg)
		fmt.Fprintf(&buf, "%d %s\n", len(m)+1, m)
	}
	mem := map[int]float64{}
	load := map[int]float64{}
	pathLoad := map[[2]int]float64{}
	for minute := 0; minute < 4*60; minute++ {
		for dy := 1; dy <= 3; dy++ {
			if minute%120 == 0 {
				mem[dy] = 250
			}
			boot := fmt.Sprintf("boot-%d-%d", dy, minute/120)
			if minute%10 == 0 {
				// Traffic comes in stretches, busy or quiet, for the dyno as a
				// whole and for each page on its own.
				load[dy] = []float64{0.3, 0.6, 1, 1.5, 2}[rng.IntN(5)]
				for p := range paths {
					pathLoad[[2]int{dy, p}] = []float64{0.1, 0.5, 1, 2, 3}[rng.IntN(5)]
				}
			}
			var lines []string
			leakyN := 0
			for pi, p := range paths {
				n := int(load[dy] * pathLoad[[2]int{dy, pi}] * (0.8 + rng.Float64()*0.4) * 10)
				for i := 0; i < n; i++ {
					path := p
					if strings.Contains(p, "%d") {
						path = fmt.Sprintf(p, rng.IntN(100000))
					}
					lines = append(lines, path)
				}
				if strings.HasPrefix(p, leaky) && leaky != "" {
					leakyN = n
				}
			}
			for s := 0; s < 3; s++ {
				t := t0.Add(time.Duration(minute)*time.Minute + time.Duration(s)*20*time.Second)
				third := lines[s*len(lines)/3 : (s+1)*len(lines)/3]
				for i, p := range third {
					frame(t.Add(time.Duration(i)*time.Millisecond), "heroku", "router", fmt.Sprintf(`at=info method=GET path="%s" host=x.herokuapp.com request_id=r fwd="1.2.3.4" dyno=web.%d connect=1ms service=%dms status=200 bytes=100 protocol=https`, p, dy, 10+rng.IntN(90)))
				}
				mem[dy] += leakMB*float64(leakyN)/3 + 2.0/180
				mb := mem[dy] + (rng.Float64()-0.5)*6
				frame(t.Add(19*time.Second), "heroku", fmt.Sprintf("web.%d", dy), fmt.Sprintf("source=web.%d dyno=heroku.1.%s sample#memory_total=%.2fMB sample#memory_rss=%.2fMB sample#memory_quota=1024.00MB", dy, boot, mb, mb))
			}
		}
		if minute%3 == 2 {
			bodies = append(bodies, append([]byte(nil), buf.Bytes()...))
			buf.Reset()
		}
	}
	return bodies
}

type suspectsOut struct {
	Verdict  string `json:"verdict"`
	Windows  int    `json:"windows"`
	Suspects []struct {
		Path    string  `json:"path"`
		MBPer1k float64 `json:"mb_per_1k_requests"`
		Named   bool    `json:"named"`
	} `json:"suspects"`
}

func TestSuspectsEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name   string
		leaky  string
		leakMB float64
	}{
		{"a leaking path", "/leaky/", 0.05},
		{"no leak", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startAlertServer(t, filepath.Join(t.TempDir(), "alerts.db"), "http://127.0.0.1:1/unused")
			s.cfg.APIToken = "tok"
			for i, b := range leakyTraffic(3, tc.leaky, tc.leakMB) {
				if code := post(t, "http://"+s.Addr()+"/logs/shop", b, map[string]string{"Logplex-Frame-Id": fmt.Sprintf("s%d", i)}); code != 200 {
					t.Fatalf("body %d: %d", i, code)
				}
			}
			// The CLI reads the file as another process: it sees what the
			// daemon has stored as rows (within a second; now).
			if err := s.writer.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"DRAINWATCH_DB": s.cfg.DBPath}
			code, out, errOut := run(t, env, "", "suspects", "--app", "shop", "--json")
			var r suspectsOut
			if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 {
				t.Fatalf("%d %v %s", code, err, errOut)
			}
			if tc.leaky == "" {
				for _, sp := range r.Suspects {
					if sp.Named {
						t.Errorf("named %s with no leak: %+v", sp.Path, r)
					}
				}
				return
			}
			if r.Verdict != "suspects" || len(r.Suspects) == 0 || r.Suspects[0].Path != "/leaky/:id" || !r.Suspects[0].Named {
				t.Fatalf("got %+v", r)
			}
			if got := r.Suspects[0].MBPer1k; math.Abs(got-50)/50 > 0.25 {
				t.Errorf("estimate %.1f MB/1k, truth 50: %s", got, out)
			}
			code, table, _ := run(t, env, "", "suspects", "--app", "shop")
			if code != 0 || !strings.Contains(table, "/leaky/:id") || !strings.Contains(table, "yes") {
				t.Errorf("table:\n%s", table)
			}
		})
	}
	code, _, errOut := run(t, nil, "", "suspects")
	if code != 2 || !strings.Contains(errOut, "--app is required") {
		t.Errorf("no app: %d %s", code, errOut)
	}
}
