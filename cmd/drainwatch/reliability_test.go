package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

func lframe(msg string) string { return fmt.Sprintf("%d %s\n", len(msg)+1, msg) }

func nowStamp(d time.Duration) string {
	return time.Now().Add(d).UTC().Format("2006-01-02T15:04:05.000000+00:00")
}

// goodLine is a real-format runtime-metrics line stamped now.
func goodLine(mb int) string {
	return fmt.Sprintf("<45>1 %s host heroku web.1 - source=web.1 dyno=heroku.1.boot sample#memory_total=%d.00MB sample#memory_quota=512.00MB", nowStamp(0), mb)
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func startLoggedServer(t *testing.T, cfg serveConfig) (*server, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.DBPath == "" {
		cfg.DBPath = filepath.Join(t.TempDir(), "r.db")
	}
	if cfg.Password == "" {
		cfg.Password = "pw"
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 1 << 20
	}
	s := &server{cfg: cfg, log: newLogger(logs, false)}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, logs
}

func memRows(t *testing.T, s *server) int {
	t.Helper()
	c, err := s.db.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(c["memory"] + c["router_lines"] + c["logs"] + c["app_lines"] + c["errors"] + c["events"])
}

// TestBadInputMatrix: every kind of broken request gets a clear answer and a
// log line saying why, the good frames of a mixed body are kept, and the
// daemon goes on serving.
func TestBadInputMatrix(t *testing.T) {
	s, logs := startLoggedServer(t, serveConfig{})
	url := "http://" + s.Addr() + "/logs/myapp"
	good := lframe(goodLine(300))
	routerBase := map[string]string{
		"at": "info", "method": "GET", "path": `"/x"`, "host": "h.herokuapp.com", "request_id": "r1", "fwd": `"1.2.3.4"`,
		"dyno": "web.1", "connect": "1ms", "service": "2ms", "status": "200", "bytes": "3", "protocol": "https",
	}
	keys := []string{"at", "method", "path", "host", "request_id", "fwd", "dyno", "connect", "service", "status", "bytes", "protocol"}
	type tc struct {
		name    string
		method  string
		ct      string
		headers map[string]string
		body    string
		status  int
		reason  string // in the answer and the log
		stored  int    // rows added
	}
	cases := []tc{
		{name: "empty body", body: "", status: 400, reason: "empty body"},
		{name: "garbage bytes", body: "\x89PNG\r\n\x1a\n\x00\x00garbage", status: 400, reason: "bad frame length"},
		{name: "length larger than body", body: "500 " + goodLine(1), status: 400, reason: "runs past end of body"},
		{name: "negative length", body: "-5 " + goodLine(1), status: 400, reason: "bad frame length"},
		{name: "non-numeric length", body: "abc " + goodLine(1), status: 400, reason: "bad frame length"},
		{name: "1 MB frame beside a good one", body: lframe("<190>1 "+nowStamp(0)+" host app web.1 - "+strings.Repeat("x", 1000000)) + good, status: 200, reason: "frame too large", stored: 1},
		{name: "body over the cap", body: strings.Repeat(good, (2<<20)/len(good)), status: 413, reason: "larger than"},
		{name: "truncated last frame", body: good + good[:40], status: 200, reason: "runs past end of body", stored: 1},
		{name: "invalid UTF-8 kept", body: lframe("<190>1 " + nowStamp(0) + " host app web.1 - caf\xe9 \xff\xfe"), status: 200, stored: 1},
		{name: "NUL bytes kept", body: lframe("<190>1 " + nowStamp(0) + " host app web.1 - a\x00b\x00c"), status: 200, stored: 1},
		{name: "NUL bytes instead of a length", body: "\x00\x00\x00 " + good, status: 400, reason: "bad frame length"},
		{name: "wrong content type", ct: "text/plain", body: good, status: 415, reason: "application/logplex-1"},
		{name: "wrong method", method: "PUT", body: good, status: 405, reason: "POST only"},
		{name: "huge Logplex-Msg-Count", headers: map[string]string{"Logplex-Msg-Count": "99999999999999999999"}, body: good, status: 200, reason: "Logplex-Msg-Count does not match", stored: 1},
		{name: "missing Logplex-Msg-Count", body: good, status: 200, stored: 1},
		{name: "header-only frame", body: lframe("<134>1 " + nowStamp(0) + " host heroku router -"), status: 400, reason: "header ends before the message"},
		{name: "far-future timestamp", body: lframe(strings.Replace(goodLine(1), nowStamp(0)[:4], "2099", 1)) + good, status: 200, reason: "too far in the future", stored: 1},
		{name: "far-past timestamp kept", body: lframe(strings.Replace(goodLine(1), nowStamp(0)[:4], "1999", 1)), status: 200, stored: 1},
		{name: "unknown dyno name kept", body: lframe("<45>1 " + nowStamp(0) + " host heroku shiny.42 - Error R14 (Memory quota exceeded)"), status: 200, stored: 1},
	}
	for i := range keys {
		var parts []string
		for j, k := range keys {
			if j != i {
				parts = append(parts, k+"="+routerBase[k])
			}
		}
		// Without at= it is not a request: kept as a platform line. Either
		// way, one row.
		cases = append(cases, tc{name: "router line without " + keys[i], body: lframe("<158>1 " + nowStamp(0) + " host heroku router - " + strings.Join(parts, " ")), status: 200, stored: 1})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := memRows(t, s)
			logBefore := len(logs.String())
			method := c.method
			if method == "" {
				method = "POST"
			}
			req, _ := http.NewRequest(method, url, strings.NewReader(c.body))
			req.SetBasicAuth("x", "pw")
			ct := c.ct
			if ct == "" {
				ct = "application/logplex-1"
			}
			req.Header.Set("Content-Type", ct)
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d (%q), want %d", resp.StatusCode, b, c.status)
			}
			if c.reason != "" {
				newLogs := logs.String()[logBefore:]
				if resp.StatusCode >= 400 && !strings.Contains(string(b), c.reason) {
					t.Errorf("answer %q lacks %q", b, c.reason)
				}
				if !strings.Contains(newLogs, c.reason) {
					t.Errorf("log lacks %q:\n%s", c.reason, newLogs)
				}
			}
			if got := memRows(t, s) - before; got != c.stored {
				t.Errorf("%d rows stored, want %d", got, c.stored)
			}
			// Still serving.
			resp, err = http.Get("http://" + s.Addr() + "/healthz")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("healthz after %s: %v", c.name, err)
			}
			resp.Body.Close()
		})
	}
}

// TestSIGKILLDurability: kill -9 at a random moment during concurrent
// ingest; after a restart every line whose request got a 200 is in the
// database exactly once, and no body is half stored.
func TestSIGKILLDurability(t *testing.T) { backends(t, "kill.db", testSIGKILLDurability) }

func testSIGKILLDurability(t *testing.T, dbPath string) {
	for round := 0; round < 2; round++ {
		c := startChild(t, dbPath)
		// SIGKILL after a random number of acknowledged bodies, the senders
		// still posting.
		stop := make(chan struct{})
		killAt := 4 + rand.IntN(40)
		acked := ingestUntil(t, c.addr, stop, 40, func(n int) {
			if n == killAt {
				c.cmd.Process.Signal(syscall.SIGKILL)
				close(stop)
			}
		})
		<-c.done
		if len(acked) < 4 {
			t.Fatalf("round %d: only %d bodies acknowledged before the kill", round, len(acked))
		}
		// Restart on the same file: it must open cleanly (WAL recovery).
		c2 := startChild(t, dbPath)
		c2.cmd.Process.Signal(syscall.SIGTERM)
		if err := <-c2.done; err != nil {
			t.Fatalf("restart after SIGKILL: %v\n%s", err, c2.out)
		}
		got := storedBodies(t, dbPath)
		// Every stored body's router lines are in the rollups, once.
		db := openRO(t, dbPath)
		counts, _ := db.Counts(context.Background())
		db.Close()
		if counts["router_lines"] != int64(len(got)*routerPerBody) {
			t.Errorf("round %d: %d router lines rolled up for %d stored bodies of %d", round, counts["router_lines"], len(got), routerPerBody)
		}
		for k := range acked {
			if got[k] != 40 {
				t.Errorf("round %d: acknowledged body %v has %d of 40 lines", round, k, got[k])
			}
		}
		for k, n := range got {
			if n != 40 {
				t.Errorf("round %d: body %v half stored (%d lines)", round, k, n)
			}
		}
		t.Logf("round %d: killed after %d acknowledgements, %d bodies acknowledged, %d in the database", round, killAt, len(acked), len(got))
		// Round 2 sends the same (sender, seq) bodies with the same frame ids,
		// as logplex retries do: stored once, the count stays 40.
	}
}

func TestSlowClientsCutOff(t *testing.T) {
	s, _ := startLoggedServer(t, serveConfig{Timeouts: httpTimeouts{Header: 200 * time.Millisecond, Read: 500 * time.Millisecond}})
	// Slowloris: a header trickled a byte every 100 ms.
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	closed := false
	for _, ch := range "POST /logs/myapp HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 50) {
		if _, err := c.Write([]byte(string(ch))); err != nil {
			closed = true
			break
		}
		time.Sleep(100 * time.Millisecond)
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 512)); err != nil && !isTimeout(err) {
			closed = true
			break
		}
	}
	if !closed || time.Since(start) > 3*time.Second {
		t.Errorf("slow header not cut off (closed %v after %v)", closed, time.Since(start))
	}
	// A body that trickles: cut off by the read timeout, with a 503 (the
	// same body sent again may arrive whole).
	c2, _ := net.Dial("tcp", s.Addr())
	defer c2.Close()
	fmt.Fprintf(c2, "POST /logs/myapp HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eDpwdw==\r\nContent-Type: application/logplex-1\r\nContent-Length: 100000\r\n\r\n")
	start = time.Now()
	for time.Since(start) < 3*time.Second {
		if _, err := c2.Write([]byte("x")); err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	c2.SetReadDeadline(time.Now().Add(2 * time.Second))
	answer, _ := io.ReadAll(c2)
	if time.Since(start) > 3*time.Second || (len(answer) > 0 && !bytes.Contains(answer, []byte("503"))) {
		t.Errorf("slow body not cut off after %v: %q", time.Since(start), answer)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestConnectionBurst: a burst of 200 concurrent drains, on a server with
// the default cap. (The cap itself: TestIdleConnectionsCannotStarveDrain
// and TestConnectionCapWaitsOnlyForBusy.)
func TestConnectionBurst(t *testing.T) {
	s2, _ := startLoggedServer(t, serveConfig{})
	var wg sync.WaitGroup
	var fails atomic.Int64
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := []byte(lframe(goodLine(100 + i)))
			req, _ := http.NewRequest("POST", "http://"+s2.Addr()+"/logs/burst", bytes.NewReader(body))
			req.SetBasicAuth("x", "pw")
			req.Header.Set("Content-Type", "application/logplex-1")
			req.Header.Set("Logplex-Frame-Id", fmt.Sprintf("burst-%d", i))
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil || resp.StatusCode != 200 {
				fails.Add(1)
				return
			}
			resp.Body.Close()
		}(i)
	}
	wg.Wait()
	if fails.Load() != 0 {
		t.Errorf("%d of 200 concurrent drains failed", fails.Load())
	}
	if mem, _ := s2.db.Memory(context.Background(), store.Filter{App: "burst"}); len(mem) != 200 {
		t.Errorf("%d of 200 lines stored", len(mem))
	}
}

// TestSecretsNeverLogged runs a daemon through refusals and a failing Slack,
// and checks that neither the drain password, the API token nor the webhook
// URL appears in its logs or stored delivery errors.
func TestSecretsNeverLogged(t *testing.T) {
	slackDown := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer slackDown.Close()
	hook := slackDown.URL + "/services/T0/B0/HOOKSECRET"
	sc, _ := slackSettings(func(k string) string { return map[string]string{"SLACK_WEBHOOK_URL": hook}[k] })
	settings, _ := alertSettings(func(string) string { return "" })
	settings.MinBackoff = 5 * time.Millisecond
	s, logs := startLoggedServer(t, serveConfig{Password: "DRAINSECRET", APIToken: "APISECRET", Slack: &sc, Alerts: settings})
	base := "http://" + s.Addr()
	for _, pw := range []string{"wrong", "DRAINSECRET-not", ""} {
		req, _ := http.NewRequest("POST", base+"/logs/app", strings.NewReader(lframe(goodLine(1))))
		req.SetBasicAuth("x", pw)
		resp, _ := http.DefaultClient.Do(req)
		resp.Body.Close()
	}
	req, _ := http.NewRequest("GET", base+"/api/memory", nil)
	req.Header.Set("Authorization", "Bearer APISECRET-wrong")
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	// An R15 fires an alert; Slack fails; retries are logged.
	req, _ = http.NewRequest("POST", base+"/logs/app", strings.NewReader(lframe("<45>1 "+nowStamp(0)+" host heroku web.1 - Error R15 (Memory quota vastly exceeded)")))
	req.SetBasicAuth("x", "DRAINSECRET")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	waitFor(t, "a failed delivery logged", func() bool { return strings.Contains(logs.String(), "alert delivery failed") })
	s.Close(context.Background())
	all := logs.String()
	db, _ := sqlite.Open(context.Background(), s.cfg.DBPath, sqlite.Options{ReadOnly: true})
	defer db.Close()
	_, _, lastErr, _ := db.DeliveryStatus(context.Background(), 1)
	for _, secret := range []string{"DRAINSECRET", "APISECRET", "HOOKSECRET", hook} {
		if strings.Contains(all, secret) || strings.Contains(lastErr, secret) {
			t.Errorf("%q leaked:\n%s\nstored error: %s", secret, all, lastErr)
		}
	}
	if !strings.Contains(all, "wrong or missing drain credentials") || lastErr == "" {
		t.Errorf("the test did not exercise failures:\n%s", all)
	}
}

// TestDiskFullGives503: when the database cannot grow, ingest answers 503
// (logplex retries), the daemon keeps serving, and nothing it acknowledged
// is lost.
func TestDiskFullGives503(t *testing.T) {
	s, logs := startLoggedServer(t, serveConfig{MaxPages: 60})
	var acked, unavailable int
	for i := 0; i < 400 && unavailable == 0; i++ {
		var body strings.Builder
		for j := 0; j < 20; j++ {
			body.WriteString(lframe(goodLine(100 + j)))
		}
		req, _ := http.NewRequest("POST", "http://"+s.Addr()+"/logs/full", strings.NewReader(body.String()))
		req.SetBasicAuth("x", "pw")
		req.Header.Set("Content-Type", "application/logplex-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
			acked++
		case 503:
			unavailable++
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if unavailable == 0 || acked == 0 {
		t.Fatalf("acked %d, 503s %d: the cap was not reached", acked, unavailable)
	}
	if !strings.Contains(logs.String(), "full") {
		t.Errorf("the log does not say the database is full:\n%s", logs)
	}
	// Health checks see it: 503, with the reason.
	resp, err := http.Get("http://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatalf("not serving after a full disk: %v", err)
	}
	health, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(health), "storing failing: disk full") {
		t.Errorf("/healthz on a full disk: %d %s", resp.StatusCode, health)
	}
	// What was acknowledged is durable: the rows that did not fit stay
	// pending, and are stored once there is room (here: a restart with a
	// larger cap).
	s.Close(context.Background())
	s2, _ := startLoggedServer(t, serveConfig{DBPath: s.cfg.DBPath})
	mem, _ := s2.db.Memory(context.Background(), store.Filter{App: "full"})
	if len(mem) != acked*20 {
		t.Errorf("%d rows for %d acknowledged bodies of 20", len(mem), acked)
	}
}

func TestStartupDiskErrors(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, []byte("x"), 0o644)
	for _, path := range []string{filepath.Join(notDir, "x.db"), "/nonexistent-dir/x.db"} {
		code, _, errOut := run(t, map[string]string{"DRAIN_PASSWORD": "x"}, "", "serve", "--addr", "127.0.0.1:0", "--db", path)
		if code != 1 || !strings.Contains(errOut, "database directory") {
			t.Errorf("%s: %d %s", path, code, errOut)
		}
	}
}
