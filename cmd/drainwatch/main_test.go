package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/store/postgres"
)

// run calls Main as the shell would, with env as the environment.
func run(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(stdin), &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

// startServer runs the daemon on 127.0.0.1, port 0.
func startServer(t *testing.T, dbPath string) *server {
	t.Helper()
	s := &server{
		cfg: withDB(serveConfig{Addr: "127.0.0.1:0", Password: "pw", MaxBody: 1 << 20}, dbPath),
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func post(t *testing.T, url string, body []byte, headers map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.SetBasicAuth("anyone", "pw")
	req.Header.Set("Content-Type", "application/logplex-1")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

type memRow struct {
	Time    time.Time `json:"time"`
	App     string    `json:"app"`
	Dyno    string    `json:"dyno"`
	TotalMB *float64  `json:"memory_total_mb"`
	RSSMB   *float64  `json:"memory_rss_mb"`
	SwapMB  *float64  `json:"memory_swap_mb"`
	QuotaMB *float64  `json:"memory_quota_mb"`
}

type errRow struct {
	Time    time.Time `json:"time"`
	App     string    `json:"app"`
	Dyno    string    `json:"dyno"`
	Code    string    `json:"code"`
	Message string    `json:"message"`
}

// TestDrainToCLI is the README's walk-through: start the daemon, POST a
// logplex body, and read it back with `drainwatch mem` and `drainwatch errors`.
func TestDrainToCLI(t *testing.T) { backends(t, "dw.db", testDrainToCLI) }

func testDrainToCLI(t *testing.T, dbPath string) {
	s := startServer(t, dbPath)
	body, _ := os.ReadFile("../../parser/testdata/drain.logplex")
	if code := post(t, "http://"+s.Addr()+"/logs/myapp", body, map[string]string{"Logplex-Msg-Count": "39"}); code != 200 {
		t.Fatalf("POST: %d", code)
	}
	resp, err := http.Get("http://" + s.Addr() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	// Query while the daemon runs: the CLI reads the file beside it, and
	// sees the acknowledged lines once the daemon has stored them as rows,
	// within a second.
	env := map[string]string{"DRAINWATCH_DB": dbPath}
	var mem []memRow
	deadline := time.Now().Add(2 * time.Second)
	for len(mem) < 3 && time.Now().Before(deadline) {
		code, out, errOut := run(t, env, "", "mem", "--app", "myapp", "--json")
		if code != 0 {
			t.Fatalf("mem: %d %s", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &mem); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(mem) != 3 {
		t.Fatalf("%d samples", len(mem))
	}
	w := mem[2]
	if w.Dyno != "worker.1" || *w.TotalMB != 550.12 || *w.RSSMB != 510 || *w.SwapMB != 38 || *w.QuotaMB != 512 ||
		!w.Time.Equal(time.Date(2026, 11, 20, 10, 0, 21, 0, time.UTC)) || w.App != "myapp" {
		t.Errorf("worker.1 sample %+v", w)
	}
	if mem[1].QuotaMB != nil {
		t.Errorf("one-off dyno has a quota: %v", *mem[1].QuotaMB)
	}

	code, out, _ := run(t, env, "", "errors", "--dyno", "worker.1", "--code", "R14,R15", "--json")
	var errs []errRow
	if err := json.Unmarshal([]byte(out), &errs); err != nil || code != 0 {
		t.Fatalf("errors: %d %v", code, err)
	}
	if len(errs) != 3 || errs[0].Code != "R14" || errs[2].Code != "R15" || errs[2].Message != "Error R15 (Memory quota vastly exceeded)" {
		t.Errorf("errors %+v", errs)
	}

	// The table shows the same samples.
	code, out, _ = run(t, env, "", "mem", "--dyno", "worker.1", "--utc")
	if code != 0 || !strings.Contains(out, "2026-11-20 10:00:21Z  myapp  worker.1  0f1e2d3c  550.1     510.0   38.0     512.0     107%") {
		t.Errorf("table:\n%s", out)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestImportThenQuery(t *testing.T) { backends(t, "imp.db", testImportThenQuery) }

func testImportThenQuery(t *testing.T, dbPath string) {
	env := map[string]string{"DRAINWATCH_DB": dbPath}
	code, out, errOut := run(t, env, "", "import", "--app", "av", "../../parser/testdata/heroku-logs.txt")
	if code != 0 {
		t.Fatalf("import: %d %s", code, errOut)
	}
	for _, want := range []string{"lines read:        41", "stored:            41", "skipped:           0", "heroku-logs format"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = run(t, env, "", "errors", "--app", "av", "--since", "2017-10-19", "--until", "2017-10-20", "--json")
	var errs []errRow
	json.Unmarshal([]byte(out), &errs)
	if code != 0 || len(errs) != 2 || errs[0].Code != "mem" || errs[1].Code != "R14" || errs[1].Dyno != "web.1" {
		t.Errorf("seed lines: %d %+v", code, errs)
	}
	// From standard input, again: already imported.
	in, _ := os.ReadFile("../../parser/testdata/heroku-logs.txt")
	code, out, _ = run(t, env, string(in), "import", "--app", "av", "--json", "-")
	var sum struct {
		Stored    int `json:"lines_stored"`
		Duplicate int `json:"lines_already_imported"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || code != 0 || sum.Stored != 0 || sum.Duplicate != 41 {
		t.Errorf("re-import: %d %s", code, out)
	}
	if postgres.IsURL(dbPath) {
		// Old history raises no alerts unless asked: nothing for the
		// daemons' evaluator; with --alerts, its batches are.
		db, err := postgres.Open(context.Background(), dbPath, postgres.Options{MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if n, err := db.FeedLen(context.Background()); err != nil || n != 0 {
			t.Errorf("alert feed after an import: %d %v", n, err)
		}
		if code, out, errOut := run(t, env, "", "import", "--app", "other", "--alerts", "../../parser/testdata/heroku-logs.txt"); code != 0 {
			t.Fatalf("import --alerts: %d %s %s", code, out, errOut)
		}
		if n, err := db.FeedLen(context.Background()); err != nil || n == 0 {
			t.Errorf("alert feed after an import --alerts: %d %v", n, err)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "u.db")
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{nil, 2, "Commands:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"bench"}, 2, "its own command, drainwatch-bench"},
		{[]string{"mem", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"mem", "--since", "yesterday", "--db", dbPath}, 2, `--since: "yesterday" is not a duration`},
		{[]string{"mem", "--since", "1h", "--until", "2h"}, 2, "--since must be before --until"},
		{[]string{"errors", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"import"}, 2, "give one FILE"},
		{[]string{"mem", "--db", filepath.Join(t.TempDir(), "missing.db")}, 1, "is --db right?"},
		{[]string{"import", "--db", dbPath, "/no/such/file.log"}, 1, "no such file"},
		{[]string{"serve", "--db", dbPath, "--addr", "127.0.0.1:0"}, 1, "no DRAIN_PASSWORD set"},
	}
	for _, tt := range tests {
		code, _, errOut := run(t, nil, "", tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.err) {
			t.Errorf("%v: exit %d, stderr %q; want %d, %q", tt.args, code, errOut, tt.code, tt.err)
		}
		if tt.code == 2 && strings.Count(strings.TrimSpace(errOut), "\n") > 0 && tt.args != nil {
			t.Errorf("%v: usage error is not short: %q", tt.args, errOut)
		}
	}
	for _, cmd := range []string{"serve", "import", "mem", "errors"} {
		code, out, _ := run(t, nil, "", cmd, "-h")
		if code != 0 || !strings.Contains(out, "Usage: drainwatch "+cmd) || !strings.Contains(out, "-db") {
			t.Errorf("%s -h: %d %q", cmd, code, out)
		}
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"6h":                   now.Add(-6 * time.Hour),
		"90m":                  now.Add(-90 * time.Minute),
		"7d":                   now.Add(-7 * 24 * time.Hour),
		"2w":                   now.Add(-14 * 24 * time.Hour),
		"1.5d":                 now.Add(-36 * time.Hour),
		"2026-11-20T10:00:00Z": time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
		"":                     {},
	} {
		got, err := parseWhen(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-6h", "soon", "7x", "d"} {
		if _, err := parseWhen(bad, now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestClip(t *testing.T) {
	if got := clip("a\tb\nc", 10); got != "a b c" {
		t.Errorf("%q", got)
	}
	if got := clip("ünïcødé", 4); got != "ünï…" {
		t.Errorf("%q", got)
	}
}
