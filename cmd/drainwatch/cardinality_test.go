package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/api"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/pending"
)

// frame frames one syslog line as logplex does.
func frame(b *bytes.Buffer, line string) { fmt.Fprintf(b, "%d %s\n", len(line)+1, line) }

func routerLine(t time.Time, path, dyno string, status int) string {
	return fmt.Sprintf(`<158>1 %s host heroku router - at=info method=GET path=%q host=shop.herokuapp.com request_id=%x fwd="203.0.113.9" dyno=%s connect=1ms service=15ms status=%d bytes=512 protocol=https`,
		t.Format("2006-01-02T15:04:05.000000+00:00"), path, t.UnixNano(), dyno, status)
}

func memoryLine(t time.Time, dyno string) string {
	return fmt.Sprintf(`<45>1 %s host heroku %s - source=%s dyno=heroku.1.6e0e4a2a-2d4b-4d9c-8ac3-0a3e6a0a8d1f sample#memory_total=120.00MB sample#memory_rss=110.00MB sample#memory_quota=512.00MB`,
		t.Format("2006-01-02T15:04:05.000000+00:00"), dyno, dyno)
}

// postBody posts a body to /logs/app and returns the status and answer.
func postBody(t *testing.T, s *server, app string, body []byte, frameID string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+s.Addr()+"/logs/"+app, bytes.NewReader(body))
	req.SetBasicAuth("drain", "pw")
	req.Header.Set("Content-Type", "application/logplex-1")
	req.Header.Set("Logplex-Frame-Id", frameID)
	req.Header.Set("Logplex-Msg-Count", fmt.Sprint(bytes.Count(body, []byte("\n"))))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// getAPI asks the read API and decodes its JSON answer into v.
func getAPI(t *testing.T, s *server, q string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.Addr()+"/api/"+q, nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", q, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v: %s", q, err, b)
	}
}

// Through the real server: a flood of random paths beyond ROLLUP_MAX_PATHS
// folds into "(other paths)", every line counted exactly (count, errors,
// the /healthz counter); the app's established routes keep their rows,
// and one-off dynos' requests are summed by process type.
func TestRandomPathsFoldThroughServer(t *testing.T) {
	s, _ := startLoggedServer(t, serveConfig{MaxPaths: 4, APIToken: "tok"})
	h0 := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	routes := []string{"/", "/cart", "/checkout"}
	// The first hour: the app's routes, each on several lines.
	var b bytes.Buffer
	for i := 0; i < 30; i++ {
		frame(&b, routerLine(h0.Add(time.Duration(i)*time.Minute), routes[i%3], "web.1", 200))
	}
	if code, ans := postBody(t, s, "shop", b.Bytes(), "h0"); code != 200 {
		t.Fatalf("%d %s", code, ans)
	}
	// The next hour: 300 random digit-less paths first (bots), then the
	// routes again, one request from a one-off dyno among them.
	b.Reset()
	h1 := h0.Add(time.Hour)
	statuses := []int{200, 404, 503}
	wantFolded, wantFoldedErrors := 0, 0
	for i := 0; i < 300; i++ {
		w := strings.Map(func(r rune) rune { return 'a' + (r-'0'+rune(i%7))%26 }, fmt.Sprintf("%06d", i*7919))
		frame(&b, routerLine(h1.Add(time.Duration(i)*100*time.Millisecond), "/wp-"+w+"/"+w[:3]+"-admin", "web.2", statuses[i%3]))
		if i >= 1 { // 4 templates: the 3 routes (established) and the first bot path
			wantFolded++
			if statuses[i%3] >= 500 {
				wantFoldedErrors++
			}
		}
	}
	for i := 0; i < 6; i++ {
		frame(&b, routerLine(h1.Add(time.Minute+time.Duration(i)*time.Second), routes[i%3], "web.1", 200))
	}
	frame(&b, routerLine(h1.Add(2*time.Minute), "/cart", "run.2660", 200))
	if code, ans := postBody(t, s, "shop", b.Bytes(), "h1"); code != 200 || !strings.HasPrefix(ans, "ok stored=307 ") {
		t.Fatalf("%d %s", code, ans)
	}
	var groups []store.RequestGroup
	getAPI(t, s, "requests?app=shop&by=path&top=100", &groups)
	byKey := map[string]store.RequestGroup{}
	var total int64
	for _, g := range groups {
		byKey[g.Key] = g
		total += g.Count
	}
	if len(groups) != 5 || total != 337 {
		t.Fatalf("%d groups, %d lines: %+v", len(groups), total, groups)
	}
	other := byKey[pending.OtherPaths]
	if other.Count != int64(wantFolded) || other.Errors != int64(wantFoldedErrors) {
		t.Errorf("%s: %d lines, %d errors; want %d, %d", pending.OtherPaths, other.Count, other.Errors, wantFolded, wantFoldedErrors)
	}
	for _, r := range routes {
		if byKey[r].Count == 0 {
			t.Errorf("route %s lost its row: %+v", r, groups)
		}
	}
	if n := healthCounters(t, s)["paths_folded"]; n != float64(wantFolded) {
		t.Errorf("paths_folded = %v, want %d", n, wantFolded)
	}
	getAPI(t, s, "requests?app=shop&by=dyno", &groups)
	var dynos []string
	for _, g := range groups {
		dynos = append(dynos, fmt.Sprintf("%s=%d", g.Key, g.Count))
	}
	if got := strings.Join(dynos, " "); got != "web.2=300 web.1=36 run=1" {
		t.Errorf("by dyno: %s", got)
	}
}

// Through the real server: beyond MAX_APPS, a new app's batches are
// answered 200 with nothing stored, logged once, counted on /healthz; the
// apps already taken go on, and after a restart the apps in the database
// count against the limit.
func TestAppLimitThroughServer(t *testing.T) {
	dbPath := t.TempDir() + "/apps.db"
	s, logs := startLoggedServer(t, serveConfig{DBPath: dbPath, MaxApps: 2, APIToken: "tok"})
	t0 := time.Now().UTC().Add(-time.Hour)
	body := func(i int) []byte {
		var b bytes.Buffer
		frame(&b, memoryLine(t0.Add(time.Duration(i)*time.Second), "web.1"))
		frame(&b, routerLine(t0.Add(time.Duration(i)*time.Second), "/", "web.1", 200))
		return b.Bytes()
	}
	for i, app := range []string{"one", "two"} {
		if code, ans := postBody(t, s, app, body(i), app); code != 200 || ans != "ok stored=2 skipped=0\n" {
			t.Fatalf("%s: %d %q", app, code, ans)
		}
	}
	for i := 0; i < 3; i++ {
		code, ans := postBody(t, s, "three", body(10+i), fmt.Sprint("three-", i))
		if code != 200 || !strings.HasPrefix(ans, "ok stored=0 dropped") {
			t.Fatalf("three: %d %q", code, ans)
		}
	}
	if code, ans := postBody(t, s, "one", body(20), "one-again"); code != 200 || ans != "ok stored=2 skipped=0\n" {
		t.Fatalf("one again: %d %q", code, ans)
	}
	h := healthCounters(t, s)
	if h["apps_dropped"] != 1.0 || h["app_batches_dropped"] != 3.0 || h["app_lines_dropped"] != 6.0 {
		t.Errorf("healthz: apps_dropped %v, app_batches_dropped %v, app_lines_dropped %v", h["apps_dropped"], h["app_batches_dropped"], h["app_lines_dropped"])
	}
	if n := strings.Count(logs.String(), "app=three"); n != 1 {
		t.Errorf("app three logged %d times:\n%s", n, logs.String())
	}
	var mem []memRow
	getAPI(t, s, "memory?app=three", &mem)
	var groups []store.RequestGroup
	getAPI(t, s, "requests?app=three", &groups)
	if len(mem) != 0 || len(groups) != 0 {
		t.Errorf("app three stored: %d samples, %+v", len(mem), groups)
	}
	getAPI(t, s, "memory?app=one", &mem)
	if len(mem) != 2 {
		t.Errorf("app one: %d samples, want 2", len(mem))
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	s, _ = startLoggedServer(t, serveConfig{DBPath: dbPath, MaxApps: 2, APIToken: "tok"})
	if code, ans := postBody(t, s, "four", body(30), "four"); code != 200 || !strings.HasPrefix(ans, "ok stored=0 dropped") {
		t.Errorf("after a restart, four: %d %q", code, ans)
	}
	if code, ans := postBody(t, s, "two", body(31), "two-again"); code != 200 || ans != "ok stored=2 skipped=0\n" {
		t.Errorf("after a restart, two: %d %q", code, ans)
	}
}

// /api/memory is streamed as it is read: the same bytes as the samples
// encoded at once, the row limit applies, a limit past the maximum is
// still a 400, and no samples is [].
func TestMemoryAnswerStreamed(t *testing.T) {
	s, _ := startLoggedServer(t, serveConfig{APIToken: "tok"})
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var b bytes.Buffer
	for i := 0; i < 50; i++ {
		frame(&b, memoryLine(t0.Add(time.Duration(i)*20*time.Second), fmt.Sprintf("run.%d", 100+i%7)))
	}
	if code, ans := postBody(t, s, "shop", b.Bytes(), "m"); code != 200 {
		t.Fatalf("%d %s", code, ans)
	}
	raw := func(q string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+s.Addr()+"/api/memory?"+q, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	local := &api.Local{DB: s.db}
	for _, q := range []string{"app=shop", "app=shop&limit=3", "app=none"} {
		v, _ := url.ParseQuery(q)
		query, _ := api.ParseQuery(v)
		rows, err := local.Memory(context.Background(), query)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		json.NewEncoder(&want).Encode(rows)
		if code, got := raw(q); code != 200 || got != want.String() {
			t.Errorf("%s: %d\n got %.200s\nwant %.200s", q, code, got, want.String())
		}
	}
	if code, got := raw("app=shop&limit=100001"); code != 400 || !strings.Contains(got, "limit") {
		t.Errorf("past the maximum: %d %s", code, got)
	}
}
