package main

// One test per row of issue 15's table, through the real daemon on
// 127.0.0.1: what arrives, and what drainwatch answers, stores, alerts and
// logs. docs/guarantees.md lists the same answers.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/store"
)

// send posts body to the daemon's /logs/APP with the drain password "pw"
// and returns the status and answer.
func send(t *testing.T, s *server, app string, body []byte, headers map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+s.Addr()+"/logs/"+app, bytes.NewReader(body))
	req.SetBasicAuth("x", "pw")
	req.Header.Set("Content-Type", "application/logplex-1")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func health(t *testing.T, s *server) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// recorded reads a recorded client body (parser/testdata/clients) and the
// headers it was sent with.
func recorded(t *testing.T, name string) ([]byte, map[string]string) {
	t.Helper()
	dir := filepath.Join("..", "..", "parser", "testdata", "clients", name)
	body, err := os.ReadFile(filepath.Join(dir, "body"))
	if err != nil {
		if body, err = os.ReadFile(filepath.Join(dir, "body.gz")); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "headers"))
	if err != nil {
		t.Fatal(err)
	}
	headers := map[string]string{}
	for _, l := range strings.Split(string(raw), "\n")[1:] {
		if k, v, ok := strings.Cut(l, ": "); ok && k != "Authorization" && k != "Accept-Encoding" {
			headers[k] = v
		}
	}
	return body, headers
}

func alertRules(t *testing.T, s *server, app string) []string {
	t.Helper()
	recs, err := s.db.Alerts(context.Background(), store.Filter{App: app})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Dyno+"/"+r.Rule+"/"+r.State)
	}
	return out
}

// Row: an app's own line forging runtime metrics, R14s, a dyno.
func TestGuaranteeAppCannotForgePlatformLines(t *testing.T) {
	s, _ := startLoggedServer(t, serveConfig{})
	var body strings.Builder
	for i := 0; i < 1000; i++ {
		body.WriteString(lframe(fmt.Sprintf("<190>1 %s host app web.1 - source=web.1 dyno=heroku.1.evil sample#memory_total=%d.00MB sample#memory_quota=512.00MB",
			nowStamp(time.Duration(i-1000)*time.Second), 600+i%400)))
	}
	body.WriteString(lframe("<190>1 " + nowStamp(0) + " host app web.1 - Error R14 (Memory quota exceeded)"))
	body.WriteString(lframe("<190>1 " + nowStamp(0) + " host app router - at=error code=H12 desc=\"Request timeout\" method=GET path=\"/\" dyno=web.1 connect= service=30000ms status=503 bytes=0"))
	if code, text := send(t, s, "victim", []byte(body.String()), nil); code != 200 || text != "ok stored=1002 skipped=0\n" {
		t.Fatalf("%d %q", code, text)
	}
	// A real R15 from Heroku afterwards: once its alert is recorded, the
	// engine has seen everything before it.
	send(t, s, "victim", []byte(lframe("<45>1 "+nowStamp(0)+" host heroku web.2 - Error R15 (Memory quota vastly exceeded)")), nil)
	waitFor(t, "the real R15's alert", func() bool { return len(alertRules(t, s, "victim")) > 0 })
	if got := alertRules(t, s, "victim"); len(got) != 1 || got[0] != "web.2/over-quota/firing" {
		t.Errorf("alerts %v, want only web.2's", got)
	}
	mem, _ := s.db.Memory(context.Background(), store.Filter{App: "victim"})
	errs, _ := s.db.Errors(context.Background(), store.Filter{App: "victim"})
	if len(mem) != 0 || len(errs) != 1 || errs[0].Dyno != "web.2" {
		t.Errorf("%d memory samples, errors %+v: forged lines were taken as Heroku's", len(mem), errs)
	}
}

// Row: SYSLOG_ADDR without DRAIN_TOKENS.
func TestGuaranteeSyslogNeedsDrainTokens(t *testing.T) {
	code, _, errOut := run(t, map[string]string{"DRAIN_PASSWORD": "pw", "SYSLOG_ADDR": "127.0.0.1:0", "SYSLOG_PLAIN": "1"}, "",
		"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "x.db"))
	if code != 1 || !strings.Contains(errOut, "SYSLOG_ADDR needs DRAIN_TOKENS") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("serve without DRAIN_TOKENS: %d %q", code, errOut)
	}
	// With tokens: a sender naming another app over plain TCP stores nothing.
	s, logs := startLoggedServer(t, serveConfig{SyslogAddr: "127.0.0.1:0", SyslogPlain: true, Tokens: map[string]string{"d.good": "myapp"}})
	s.logListening()
	if !strings.Contains(logs.String(), "one of the 1 in DRAIN_TOKENS") || strings.Contains(logs.String(), "d.good") {
		t.Errorf("start-up log does not say what authenticates syslog (or shows the token):\n%s", logs)
	}
	c, err := net.Dial("tcp", s.syslog.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	m := fmt.Sprintf("<45>1 %s victim-app heroku web.1 - - source=web.1 dyno=heroku.1.x sample#memory_total=900.00MB sample#memory_quota=512.00MB", nowStamp(0))
	fmt.Fprintf(c, "%d %s", len(m), m)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("connection with an unknown token not closed")
	}
	c.Close()
	if n := s.syslog.Refused.Load(); n != 1 {
		t.Errorf("refused %d", n)
	}
	if mem, _ := s.db.Memory(context.Background(), store.Filter{}); len(mem) != 0 {
		t.Errorf("stored %d samples from an unknown token", len(mem))
	}
	// Explicitly open: the log says so.
	s2, logs2 := startLoggedServer(t, serveConfig{SyslogAddr: "127.0.0.1:0", SyslogPlain: true, SyslogAllowAny: true})
	s2.logListening()
	if !strings.Contains(logs2.String(), `auth="NONE: any sender`) {
		t.Errorf("open syslog listener not said so:\n%s", logs2)
	}
}

// Rows: log-shuttle's frames (NILVALUE, no SD, an SD element) and gzip.
func TestGuaranteeLogShuttleBodies(t *testing.T) {
	s, _ := startLoggedServer(t, serveConfig{})
	for _, name := range []string{"log-shuttle-default", "log-shuttle-msgid-nil", "log-shuttle-sd-element", "log-shuttle-gzip"} {
		body, headers := recorded(t, name)
		if code, text := send(t, s, name, body, headers); code != 200 || text != "ok stored=5 skipped=0\n" {
			t.Errorf("%s: %d %q", name, code, text)
			continue
		}
		mem, _ := s.db.Memory(context.Background(), store.Filter{App: name})
		errs, _ := s.db.Errors(context.Background(), store.Filter{App: name})
		if len(mem) != 1 || mem[0].TotalMB == nil || *mem[0].TotalMB != 900 || len(errs) != 1 || errs[0].Code != "R14" {
			t.Errorf("%s: memory %+v, errors %+v", name, mem, errs)
		}
		waitFor(t, name+"'s over-quota alert", func() bool { return len(alertRules(t, s, name)) > 0 })
	}
	// logplex's own frames keep a message that begins with "- " or "[".
	body, headers := recorded(t, "logplex-dashes-brackets")
	delete(headers, "Logplex-Drain-Token")
	if code, text := send(t, s, "lp", body, headers); code != 200 || text != "ok stored=7 skipped=0\n" {
		t.Fatalf("%d %q", code, text)
	}
	errs, _ := s.db.Errors(context.Background(), store.Filter{App: "lp"})
	if mem, _ := s.db.Memory(context.Background(), store.Filter{App: "lp"}); len(mem) != 0 || len(errs) != 0 {
		t.Errorf("logplex frames: %d samples, errors %+v", len(mem), errs)
	}
}

// Row: Content-Encoding.
func TestGuaranteeEncodings(t *testing.T) {
	s, logs := startLoggedServer(t, serveConfig{})
	gz := func(b []byte) []byte {
		var out bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		return out.Bytes()
	}
	good := []byte(lframe(goodLine(300)))
	if code, text := send(t, s, "enc", gz(good), map[string]string{"Content-Encoding": "gzip"}); code != 200 || text != "ok stored=1 skipped=0\n" {
		t.Errorf("gzip: %d %q", code, text)
	}
	// A bomb: 200 MB of one repeated line in ~200 KB (200 gzip members of
	// 1 MiB each). Refused once 1 MiB is out, without inflating the rest.
	bomb := bytes.Repeat(gz(bytes.Repeat(good, 1<<20/len(good))), 200)
	start := time.Now()
	code, text := send(t, s, "enc", bomb, map[string]string{"Content-Encoding": "gzip"})
	if took := time.Since(start); code != 413 || !strings.Contains(text, "once decompressed") || took > 3*time.Second {
		t.Errorf("bomb of %d bytes: %d %q after %v", len(bomb), code, text, took)
	}
	if code, text := send(t, s, "enc", good, map[string]string{"Content-Encoding": "br"}); code != 415 || text != "Content-Encoding \"br\" is not supported: send gzip or none\n" {
		t.Errorf("br: %d %q", code, text)
	}
	if code, text := send(t, s, "enc", good, map[string]string{"Content-Encoding": "gzip"}); code != 400 || !strings.Contains(text, "not valid gzip") {
		t.Errorf("not gzip: %d %q", code, text)
	}
	if !strings.Contains(logs.String(), "content_encoding=br") {
		t.Errorf("refusal not logged:\n%s", logs)
	}
}

// Row: lines dated more than the tolerance ahead.
func TestGuaranteeFutureLinesSkipped(t *testing.T) {
	s, logs := startLoggedServer(t, serveConfig{})
	future := lframe(fmt.Sprintf("<45>1 %s host heroku web.1 - Error R14 (Memory quota exceeded)", nowStamp(2*time.Hour)))
	if code, text := send(t, s, "fut", []byte(future+future+lframe(goodLine(100))), nil); code != 200 || text != "ok stored=1 skipped=2\n" {
		t.Errorf("mixed: %d %q", code, text)
	}
	if code, text := send(t, s, "fut", []byte(future), nil); code != 200 || text != "ok stored=0 skipped=1\n" {
		t.Errorf("only future lines: %d %q", code, text)
	}
	if !strings.Contains(logs.String(), "lines dated too far in the future skipped") || s.drain.Stats.Future.Load() != 3 {
		t.Errorf("future lines not logged or counted (%d):\n%s", s.drain.Stats.Future.Load(), logs)
	}
	if _, h := health(t, s); !strings.Contains(h, `"future_lines_skipped":3`) {
		t.Errorf("healthz: %s", h)
	}
}

// Row: the disk fills; serve restarts on a full disk; the database file
// is deleted.
func TestGuaranteeDiskTrouble(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "full.db")
	s, _ := startLoggedServer(t, serveConfig{DBPath: dbPath, MaxPages: 60})
	acked := 0
	for i := 0; i < 400; i++ {
		var body strings.Builder
		for j := 0; j < 20; j++ {
			body.WriteString(lframe(goodLine(100 + j)))
		}
		code, _ := send(t, s, "full", []byte(body.String()), nil)
		if code == 503 {
			break
		}
		acked++
	}
	if code, h := health(t, s); code != 503 || !strings.Contains(h, "storing failing: disk full") {
		t.Errorf("healthz on a full disk: %d %s", code, h)
	}
	s.Close(context.Background())

	// A restart on the still-full disk: serve starts, answers 503 with the
	// reason, and stores once there is room, with every line it had
	// acknowledged.
	s2, logs := startLoggedServer(t, serveConfig{DBPath: dbPath, MaxPages: 60, RetryOpen: 20 * time.Millisecond})
	if s2.ready() {
		t.Fatal("the database opened on a full disk: the test did not fill it")
	}
	if code, h := health(t, s2); code != 503 || !strings.Contains(h, "storing failing: disk full") {
		t.Errorf("healthz: %d %s", code, h)
	}
	if code, _ := send(t, s2, "full", []byte(lframe(goodLine(1))), nil); code != 503 {
		t.Errorf("POST on a full disk: %d", code)
	}
	s2.openMu.Lock()
	s2.cfg.MaxPages = 0 // room again
	s2.openMu.Unlock()
	waitFor(t, "the database to open", s2.ready)
	if code, h := health(t, s2); code != 200 {
		t.Errorf("healthz with room: %d %s", code, h)
	}
	if mem, _ := s2.db.Memory(context.Background(), store.Filter{App: "full"}); len(mem) != acked*20 {
		t.Errorf("%d rows for %d acknowledged bodies of 20", len(mem), acked)
	}
	if !strings.Contains(logs.String(), "database open: storing again") {
		t.Errorf("recovery not logged:\n%s", logs)
	}

	// The database file deleted under a running daemon.
	s3, _ := startLoggedServer(t, serveConfig{})
	if code, _ := send(t, s3, "gone", []byte(lframe(goodLine(1))), nil); code != 200 {
		t.Fatal(code)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(s3.cfg.DBPath + suffix)
	}
	if code, _ := send(t, s3, "gone", []byte(lframe(goodLine(2))), nil); code != 503 {
		t.Errorf("POST with the database deleted: %d", code)
	}
	if code, h := health(t, s3); code != 503 || !strings.Contains(h, "database file missing") {
		t.Errorf("healthz with the database deleted: %d %s", code, h)
	}
}

// Row: a body-read error is 503 (a retry can fix it).
func TestGuaranteeBodyReadErrorIs503(t *testing.T) {
	s, logs := startLoggedServer(t, serveConfig{})
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	part := lframe(goodLine(1))
	fmt.Fprintf(c, "POST /logs/cut HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nContent-Type: application/logplex-1\r\nContent-Length: %d\r\n\r\n%s",
		base64.StdEncoding.EncodeToString([]byte("x:pw")), len(part)+1000, part)
	c.(*net.TCPConn).CloseWrite() // the body ends early
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("cut body: %d", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), "could not read the body") {
		t.Errorf("not logged:\n%s", logs)
	}
}

// Row: DRAIN_TOKENS with an app name no URL could carry.
func TestGuaranteeSettingsCheckedAtStart(t *testing.T) {
	for _, c := range []struct{ env, want string }{
		{"DRAIN_TOKENS=d.abc=my/app", `app name "my/app" must be 1-100 letters`},
		{"DRAIN_TOKENS=d.abc=a,d.abc=b", "is given twice"},
		{"REQUIRE_HTTPS=ture", `REQUIRE_HTTPS="ture" is not 1 or 0`},
	} {
		k, v, _ := strings.Cut(c.env, "=")
		code, _, errOut := run(t, map[string]string{"DRAIN_PASSWORD": "pw", k: v}, "", "serve", "--addr", "127.0.0.1:0",
			"--db", filepath.Join(t.TempDir(), "x.db"))
		if code != 1 || !strings.Contains(errOut, c.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || strings.Contains(errOut, "d.abc") {
			t.Errorf("%s: %d %q", c.env, code, errOut)
		}
	}
}

// Row: log-shuttle's and logplex's drop notices.
func TestGuaranteeDropNotices(t *testing.T) {
	s, _ := startLoggedServer(t, serveConfig{})
	body, headers := recorded(t, "log-shuttle-drops")
	if code, text := send(t, s, "drops", body, headers); code != 200 || text != "ok stored=101 skipped=0\n" {
		t.Fatalf("%d %q", code, text)
	}
	send(t, s, "drops", []byte(lframe("<172>1 "+nowStamp(0)+" host heroku logplex - Error L10 (output buffer overflow): 64 messages dropped since 2026-11-20T10:02:00+00:00.")), nil)
	errs, _ := s.db.Errors(context.Background(), store.Filter{App: "drops"}, "L10", "L12")
	if len(errs) != 2 || errs[0].Code != "L12" || errs[0].Dropped == nil || *errs[0].Dropped != 2800 || errs[1].Dropped == nil || *errs[1].Dropped != 64 {
		t.Fatalf("errors %+v", errs)
	}
	waitFor(t, "the drops alert", func() bool { return len(alertRules(t, s, "drops")) > 0 })
	recs, _ := s.db.Alerts(context.Background(), store.Filter{App: "drops"})
	if len(recs) != 1 || recs[0].Rule != "drops" ||
		recs[0].Summary != "log-shuttle dropped 2,800 lines for drops in the last hour: drainwatch answers too slowly, or the app logs more than the drain can take" {
		t.Errorf("alerts %+v", recs)
	}
}

// Row: drain tokens are never logged; a short hash tells them apart.
func TestGuaranteeTokensNotLogged(t *testing.T) {
	s, logs := startLoggedServer(t, serveConfig{Tokens: map[string]string{"d.11111111-secret-token": "myapp"}})
	for _, tok := range []string{"d.22222222-unknown-token", "d.11111111-secret-token"} {
		send(t, s, "other", []byte(lframe(goodLine(1))), map[string]string{"Logplex-Drain-Token": tok})
	}
	all := logs.String()
	if strings.Contains(all, "secret-token") || strings.Contains(all, "unknown-token") || !strings.Contains(all, "token_hash=") {
		t.Errorf("tokens in the log:\n%s", all)
	}
}

// Rows: /login, and the ?token= sign-in.
func TestGuaranteeSignIn(t *testing.T) {
	s, logs := startLoggedServer(t, serveConfig{APIToken: "API-s3cret"})
	base := "http://" + s.Addr()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	codes := map[int]int{}
	for i := 0; i < 300; i++ {
		resp, err := noRedirect.PostForm(base+"/login", url.Values{"token": {fmt.Sprintf("guess-%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[401] > 10 || codes[429] < 290 {
		t.Errorf("300 wrong guesses from one client: %v", codes)
	}
	if !strings.Contains(logs.String(), "sign-in failed") || !strings.Contains(logs.String(), "sign-in throttled") || strings.Contains(logs.String(), "guess-") {
		t.Errorf("failures not logged (or guesses logged):\n%s", logs)
	}
	// ?token= signs in and leaves for the same view without the token; the
	// form brings an alert's link back to its view.
	s2, _ := startLoggedServer(t, serveConfig{APIToken: "API-s3cret"})
	base = "http://" + s2.Addr()
	resp, err := noRedirect.Get(base + "/?token=API-s3cret&app=myapp&range=24h")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != "/?app=myapp&range=24h" {
		t.Errorf("?token=: %d %q", resp.StatusCode, loc)
	}
	view := "/?app=myapp&dyno=web.1&from=2026-11-20T00%3A00%3A00Z&to=2026-11-20T02%3A00%3A00Z"
	resp, err = noRedirect.Get(base + view)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(page), `name="next" value="/?app=myapp&amp;dyno=web.1&amp;from=`) {
		t.Fatalf("login page for an alert's link: %d %s", resp.StatusCode, page)
	}
	resp, err = noRedirect.PostForm(base+"/login", url.Values{"token": {"API-s3cret"}, "next": {view}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != view {
		t.Errorf("signed in to %q, want %q", loc, view)
	}
}
