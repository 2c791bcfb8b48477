package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// routerTraffic is an hour of router lines for web.1 and web.2: several
// paths with ids in them, some slow, some H12s.
func routerTraffic(start time.Time) []byte {
	var b bytes.Buffer
	paths := []string{"/users/%d", "/users/%d/posts?page=2", "/reports/export", "/", "/orders/0b9d1a7e-8c66-4fb4-a1b6-2a8e7a0d7c11"}
	for i := 0; i < 1200; i++ {
		t := start.Add(time.Duration(i) * 3 * time.Second)
		p := paths[i%len(paths)]
		if strings.Contains(p, "%d") {
			p = fmt.Sprintf(p, 1000+i)
		}
		service, status, code := 20+i%50, 200, ""
		if strings.HasPrefix(p, "/reports") {
			service = 800 + (i%7)*300
			if i%35 == 2 {
				service, status, code = 30000, 503, "H12"
			}
		}
		var m string
		if code != "" {
			m = fmt.Sprintf(`at=error code=%s desc="Request timeout" method=GET path="%s" host=x.herokuapp.com request_id=r%d fwd="1.2.3.4" dyno=web.%d connect= service=%dms status=%d bytes=0 protocol=https`, code, p, i, 1+i%2, service, status)
		} else {
			m = fmt.Sprintf(`at=info method=GET path="%s" host=x.herokuapp.com request_id=r%d fwd="1.2.3.4" dyno=web.%d connect=%dms service=%dms status=%d bytes=%d protocol=https`, p, i, 1+i%2, i%3, service, status, 1000+i)
		}
		line := fmt.Sprintf("<158>1 %s host heroku router - %s", t.Format("2006-01-02T15:04:05.000000+00:00"), m)
		fmt.Fprintf(&b, "%d %s\n", len(line)+1, line)
	}
	return b.Bytes()
}

func startAPIServer(t *testing.T, token string) *server {
	t.Helper()
	settings, _ := alertSettings(func(string) string { return "" })
	s := &server{
		cfg: serveConfig{Addr: "127.0.0.1:0", DBPath: filepath.Join(t.TempDir(), "api.db"), Password: "pw", MaxBody: 4 << 20,
			Alerts: settings, APIToken: token},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	fixture, _ := os.ReadFile("../../parser/testdata/drain.logplex")
	bodies := append(history(start), routerTraffic(start), fixture)
	for i, b := range bodies {
		if code := post(t, "http://"+s.Addr()+"/logs/myapp", b, map[string]string{"Logplex-Frame-Id": fmt.Sprintf("api-%d", i)}); code != 200 {
			t.Fatalf("body %d: %d", i, code)
		}
	}
	// The tests read the file as another process would: it sees what the
	// daemon acknowledged once the writer has stored it (within a second),
	// and every alert once the engine has judged each committed batch.
	if err := s.writer.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.alerts.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLocalAndRemoteAgree runs every query command against the database file
// and against the running daemon's API, and expects the same output, byte for
// byte.
func TestLocalAndRemoteAgree(t *testing.T) {
	s := startAPIServer(t, "s3cret-api-token")
	local := map[string]string{"DRAINWATCH_DB": s.cfg.DBPath}
	remote := map[string]string{"DRAINWATCH_URL": "http://" + s.Addr(), "DRAINWATCH_TOKEN": "s3cret-api-token"}
	window := []string{"--since", "2026-11-20T00:00:00Z", "--until", "2026-11-21T00:00:00Z", "--utc"}
	cases := [][]string{
		{"mem", "--app", "myapp", "--json"},
		{"mem", "--app", "myapp", "--dyno", "worker.1", "--limit", "20"},
		{"mem", "--dyno", "web.1", "--csv"},
		{"mem", "--dyno", "worker.1", "--chart"},
		{"errors", "--app", "myapp", "--json"},
		{"errors", "--code", "R14,H12"},
		{"requests", "--app", "myapp", "--json"},
		{"requests", "--by", "status"},
		{"requests", "--by", "dyno", "--top", "1"},
		{"requests", "--by", "path"},
		{"alerts", "--json"},
		{"alerts"},
		{"analyze", "--json"},
		{"analyze"},
		{"dynos", "--json"},
		{"dynos"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			full := append(append([]string{}, args...), window...)
			lc, lout, lerr := run(t, local, "", full...)
			rc, rout, rerr := run(t, remote, "", full...)
			if lc != 0 || rc != 0 {
				t.Fatalf("exit local %d (%s), remote %d (%s)", lc, lerr, rc, rerr)
			}
			if len(strings.TrimSpace(lout)) < 10 {
				t.Fatalf("local output is empty: %q %s", lout, lerr)
			}
			if lout != rout {
				t.Errorf("local and remote differ\nlocal:\n%s\nremote:\n%s", lout, rout)
			}
		})
	}
}

func TestRequestsAnalytics(t *testing.T) {
	s := startAPIServer(t, "tok")
	env := map[string]string{"DRAINWATCH_DB": s.cfg.DBPath}
	code, out, _ := run(t, env, "", "requests", "--app", "myapp", "--json")
	var groups []struct {
		Key        string           `json:"key"`
		Count      int64            `json:"count"`
		Errors     int64            `json:"errors"`
		ServiceP50 float64          `json:"service_p50_ms"`
		ServiceP99 float64          `json:"service_p99_ms"`
		Codes      map[string]int64 `json:"codes"`
	}
	if err := json.Unmarshal([]byte(out), &groups); err != nil || code != 0 {
		t.Fatalf("%d %v", code, err)
	}
	byKey := map[string]int{}
	for i, g := range groups {
		byKey[g.Key] = i
	}
	// 1200 lines over 5 templates, plus the fixture's router lines.
	for _, k := range []string{"/users/:id", "/users/:id/posts", "/reports/export", "/", "/orders/:uuid"} {
		if _, ok := byKey[k]; !ok {
			t.Errorf("no group %q in %v", k, byKey)
		}
	}
	rep := groups[byKey["/reports/export"]]
	// Percentiles come from sketches: within 1%.
	if rep.Codes["H12"] < 6 || rep.Errors < rep.Codes["H12"] || rep.ServiceP50 < 800 || math.Abs(rep.ServiceP99-30000) > 300 {
		t.Errorf("/reports/export: %+v", rep)
	}
	if u := groups[byKey["/users/:id"]]; u.Count != 240 || u.Errors != 0 || u.ServiceP99 > 70 {
		t.Errorf("/users/:id: %+v", u)
	}
	code, out, _ = run(t, env, "", "requests", "--by", "status", "--utc")
	if code != 0 || !strings.Contains(out, "STATUS") || !strings.Contains(out, "5xx") {
		t.Errorf("by status:\n%s", out)
	}
}

func TestAPIAuthAndErrors(t *testing.T) {
	s := startAPIServer(t, "right-token")
	base := "http://" + s.Addr()
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: content type %q", path, ct)
		}
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		path, token string
		status      int
		body        string
	}{
		{"/api/memory", "", 401, "missing or wrong API token"},
		{"/api/memory", "wrong-token", 401, "missing or wrong API token"},
		{"/api/memory", "right-token-but-longer", 401, "missing or wrong API token"},
		{"/api/memory?since=yesterday", "right-token", 400, `since=\"yesterday\" is not an RFC 3339 time`},
		{"/api/requests?by=color", "right-token", 400, "want path, status or dyno"},
		{"/api/nothing", "right-token", 404, "no such endpoint"},
		{"/api/memory?app=myapp&limit=2", "right-token", 200, `"memory_total_mb"`},
		{"/api/dynos?app=nobody", "right-token", 200, "[]"},
	}
	for _, tt := range tests {
		code, body := get(tt.path, tt.token)
		if code != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("%s (%q): %d %s", tt.path, tt.token, code, body)
		}
	}
	// The CLI says what went wrong.
	code, _, errOut := run(t, map[string]string{"DRAINWATCH_URL": base, "DRAINWATCH_TOKEN": "nope"}, "", "mem")
	if code != 1 || !strings.Contains(errOut, "refused the API token") {
		t.Errorf("CLI with a wrong token: %d %s", code, errOut)
	}
	code, _, errOut = run(t, map[string]string{"DRAINWATCH_URL": base}, "", "mem")
	if code != 2 || !strings.Contains(errOut, "--url needs --token") {
		t.Errorf("CLI without a token: %d %s", code, errOut)
	}
}

func TestAPIOffWithoutToken(t *testing.T) {
	s := startAPIServer(t, "")
	req, _ := http.NewRequest("GET", "http://"+s.Addr()+"/api/memory", nil)
	req.Header.Set("Authorization", "Bearer ")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), "the API is off") {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
}

func TestMemChart(t *testing.T) {
	s := startAPIServer(t, "tok")
	env := map[string]string{"DRAINWATCH_DB": s.cfg.DBPath, "COLUMNS": "80"}
	code, out, _ := run(t, env, "", "mem", "--dyno", "web.1", "--chart", "--utc", "--since", "2026-11-20T00:00:00Z", "--until", "2026-11-20T04:00:00Z")
	if code != 0 {
		t.Fatal(code)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 1+14+4 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("line wider than the terminal (%d): %q", n, l)
		}
	}
	if !strings.Contains(lines[0], "quota 512 MB") || !strings.Contains(out, "─") || !strings.Contains(out, "█") {
		t.Errorf("no quota line or bars:\n%s", out)
	}
	marks := lines[len(lines)-3]
	if !strings.HasPrefix(strings.TrimSpace(marks), "R14/R15") || !strings.Contains(marks, "^") {
		t.Errorf("no R14 mark under the axis:\n%s", out)
	}
	if !strings.Contains(lines[len(lines)-1], "2026-11-20 00:00:00Z") {
		t.Errorf("no time axis labels:\n%s", out)
	}
	// A restart (new boot id) shows as ↻.
	code, out, _ = run(t, env, "", "mem", "--dyno", "web.1", "--chart", "--utc")
	if code != 0 || !strings.Contains(out, "↻") {
		t.Errorf("no restart mark (fixture web.1 has another boot):\n%s", out)
	}
}
