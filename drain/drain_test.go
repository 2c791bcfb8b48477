package drain

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

const (
	user = "logplex"
	pass = "s3cret-drain-password"
)

// fakeWriter is a store.BatchWriter whose behaviour a test sets.
type fakeWriter struct {
	WriteFn func(ctx context.Context, b *store.Batch) (store.Result, error)
}

func (f *fakeWriter) Write(ctx context.Context, b *store.Batch) (store.Result, error) {
	return f.WriteFn(ctx, b)
}

type env struct {
	srv  *httptest.Server
	db   *sqlite.DB
	logs *syncBuffer
	h    *Handler
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv starts the drain on 127.0.0.1 with a real SQLite store, or with w
// when given.
func newEnv(t *testing.T, w store.BatchWriter) *env {
	t.Helper()
	e := &env{logs: &syncBuffer{}}
	if w == nil {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sw, err := sqlite.NewWriter(db, sqlite.WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sw.Close(); db.Close() })
		e.db, w = db, sw
	}
	h, err := New(Config{User: user, Password: pass, MaxBody: 256 << 10, Logger: slog.New(slog.NewTextHandler(e.logs, nil))}, w)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

func fixture(t testing.TB) []byte {
	b, err := os.ReadFile("../parser/testdata/drain.logplex")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func frame(msg string) string { return strconv.Itoa(len(msg)+1) + " " + msg + "\n" }

type req struct {
	method, path, user, pass, ct string
	headers                      map[string]string
	body                         []byte
}

func (e *env) do(t *testing.T, r req) (int, string) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = "/logs/myapp"
	}
	if r.ct == "" {
		r.ct = "application/logplex-1"
	}
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.user != "" || r.pass != "" {
		hr.SetBasicAuth(r.user, r.pass)
	}
	hr.Header.Set("Content-Type", r.ct)
	hr.Header.Set("User-Agent", "Logplex/v123")
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) counts(t *testing.T) map[string]int64 {
	t.Helper()
	c, err := e.db.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) stored(t *testing.T) int64 {
	c := e.counts(t)
	return c["memory"] + c["load"] + c["router_lines"] + c["events"] + c["logs"] + c["app_lines"] + c["errors"] + c["samples"]
}

func TestDrainStoresFixture(t *testing.T) {
	e := newEnv(t, nil)
	body := fixture(t)
	code, resp := e.do(t, req{user: user, pass: pass, body: body, headers: map[string]string{
		"Logplex-Msg-Count": "39", "Logplex-Frame-Id": "09C557EAFCFB6CF2740EE62F62971098", "Logplex-Drain-Token": "d.fc6b856b-3332-4546-93de-7d0ee272c3bd",
	}})
	if code != 200 || resp != "ok stored=39 skipped=0\n" {
		t.Fatalf("%d %q", code, resp)
	}
	mem, err := e.db.Memory(context.Background(), store.Filter{App: "myapp", Dyno: "worker.1"})
	if err != nil || len(mem) != 1 || *mem[0].TotalMB != 550.12 || *mem[0].SwapMB != 38 {
		t.Fatalf("memory %+v %v", mem, err)
	}
	errs, _ := e.db.Errors(context.Background(), store.Filter{App: "myapp"}, "R14", "R15")
	if len(errs) != 3 {
		t.Errorf("%d R14/R15 rows", len(errs))
	}
	if strings.Contains(e.logs.String(), "level=WARN") {
		t.Errorf("unexpected warnings: %s", e.logs)
	}
}

func TestDrainRetryStoredOnce(t *testing.T) {
	e := newEnv(t, nil)
	h := map[string]string{"Logplex-Frame-Id": "0123456789ABCDEF0123456789ABCDEF", "Logplex-Msg-Count": "39"}
	for i := 0; i < 3; i++ {
		code, resp := e.do(t, req{user: user, pass: pass, body: fixture(t), headers: h})
		want := "ok stored=39 skipped=0\n"
		if i > 0 {
			want = "ok duplicate\n"
		}
		if code != 200 || resp != want {
			t.Fatalf("attempt %d: %d %q", i, code, resp)
		}
	}
	if c := e.counts(t); c["memory"] != 3 || c["router_lines"] != 6 {
		t.Errorf("stored more than once: %v", c)
	}
}

func TestDrainRefusals(t *testing.T) {
	good := fixture(t)
	tests := []struct {
		name   string
		r      req
		status int
		reason string
	}{
		{"no credentials", req{body: good}, 401, "credentials"},
		{"wrong user", req{user: "nope", pass: pass, body: good}, 401, "credentials"},
		{"wrong password", req{user: user, pass: "nope", body: good}, 401, "credentials"},
		{"password as user", req{user: pass, pass: user, body: good}, 401, "credentials"},
		{"GET", req{method: "GET", user: user, pass: pass}, 405, "POST only"},
		{"wrong content type", req{user: user, pass: pass, ct: "application/json", body: good}, 415, "application/logplex-1"},
		{"empty body", req{user: user, pass: pass}, 400, "empty body"},
		{"garbage", req{user: user, pass: pass, body: []byte("\x00\xff garbage, not frames")}, 400, "no parseable frame"},
		{"only bad headers", req{user: user, pass: pass, body: []byte(frame("<13>1 yesterday host app web.1 - hi"))}, 400, "bad timestamp"},
		{"body over cap", req{user: user, pass: pass, body: bytes.Repeat(good, 20)}, 413, "larger than"},
		{"bad app name", req{path: "/logs/my%20app", user: user, pass: pass, body: good}, 400, "app name"},
	}
	e := newEnv(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, resp := e.do(t, tt.r)
			if code != tt.status || !strings.Contains(resp, tt.reason) {
				t.Errorf("got %d %q, want %d %q", code, resp, tt.status, tt.reason)
			}
		})
	}
	if n := e.stored(t); n != 0 {
		t.Errorf("%d rows stored by refused requests", n)
	}
	if strings.Contains(e.logs.String(), pass) {
		t.Error("the drain password was logged")
	}
	if !strings.Contains(e.logs.String(), "reason=") {
		t.Error("refusals were not logged with a reason")
	}
	// The daemon still serves.
	if code, _ := e.do(t, req{user: user, pass: pass, body: good}); code != 200 {
		t.Errorf("after refusals: %d", code)
	}
}

func TestDrainMixedBodyKeepsGoodFrames(t *testing.T) {
	e := newEnv(t, nil)
	msgs := strings.Split(strings.TrimSpace(string(must(os.ReadFile("../parser/testdata/messages.txt")))), "\n")
	body := frame(msgs[0]) + "%%% not a frame\n" + frame(msgs[6]) + frame("<13>1 bad-time host app web.1 - x") + frame(msgs[11]) + "500 " + msgs[1]
	code, resp := e.do(t, req{user: user, pass: pass, body: []byte(body), headers: map[string]string{"Logplex-Msg-Count": "5"}})
	if code != 200 || resp != "ok stored=3 skipped=3\n" {
		t.Fatalf("%d %q", code, resp)
	}
	c := e.counts(t)
	if c["router_lines"] != 1 || c["memory"] != 1 || c["errors"] != 1 {
		t.Errorf("counts %v", c)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "malformed frames skipped") || !strings.Contains(logs, "Logplex-Msg-Count does not match") {
		t.Errorf("logs: %s", logs)
	}
}

func TestDrainTokenNamesApp(t *testing.T) {
	e := newEnv(t, nil)
	code, _ := e.do(t, req{path: "/logs", user: user, pass: pass, body: fixture(t), headers: map[string]string{"Logplex-Drain-Token": "d.fc6b856b-3332-4546-93de-7d0ee272c3bd"}})
	if code != 200 {
		t.Fatal(code)
	}
	mem, _ := e.db.Memory(context.Background(), store.Filter{App: "d.fc6b856b-3332-4546-93de-7d0ee272c3bd"})
	if len(mem) != 3 {
		t.Errorf("%d samples under the token's app", len(mem))
	}
	e.do(t, req{path: "/logs", user: user, pass: pass, body: fixture(t)})
	if mem, _ := e.db.Memory(context.Background(), store.Filter{App: "default"}); len(mem) != 3 {
		t.Errorf("%d samples under default", len(mem))
	}
}

func TestDrainTransientFailuresAre503(t *testing.T) {
	for _, werr := range []error{store.ErrQueueFull, store.ErrClosed, errors.New("database is locked")} {
		e := newEnv(t, &fakeWriter{WriteFn: func(ctx context.Context, b *store.Batch) (store.Result, error) {
			return store.Result{}, werr
		}})
		code, _ := e.do(t, req{user: user, pass: pass, body: fixture(t)})
		if code != 503 {
			t.Errorf("%v: %d, want 503", werr, code)
		}
	}
	// A writer slower than the ack timeout: 503, so logplex retries.
	block := make(chan struct{})
	defer close(block)
	slow := &fakeWriter{WriteFn: func(ctx context.Context, b *store.Batch) (store.Result, error) {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return store.Result{}, ctx.Err()
	}}
	h, _ := New(Config{User: user, Password: pass, AckTimeout: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, slow)
	srv := httptest.NewServer(h)
	defer srv.Close()
	e := &env{srv: srv}
	if code, _ := e.do(t, req{user: user, pass: pass, body: fixture(t)}); code != 503 {
		t.Errorf("slow writer: %d, want 503", code)
	}
}

func TestNewRefusesNoPassword(t *testing.T) {
	if _, err := New(Config{User: "x"}, &fakeWriter{}); !errors.Is(err, ErrNoPassword) {
		t.Errorf("got %v", err)
	}
	h, err := New(Config{AllowNoAuth: true}, &fakeWriter{WriteFn: func(ctx context.Context, b *store.Batch) (store.Result, error) {
		return store.Result{Stored: len(b.Events)}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	e := &env{srv: srv}
	if code, _ := e.do(t, req{body: fixture(t)}); code != 200 {
		t.Errorf("explicitly open drain: %d", code)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestDrainTokenAllowlist(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sw, _ := sqlite.NewWriter(db, sqlite.WriterOptions{})
	defer func() { sw.Close(); db.Close() }()
	logs := &syncBuffer{}
	h, _ := New(Config{Password: pass, Tokens: map[string]string{"d.aaa": "shop", "d.bbb": "blog"}, RequireHTTPS: true,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}, sw)
	srv := httptest.NewServer(h)
	defer srv.Close()
	e := &env{srv: srv, db: db, logs: logs}
	tests := []struct {
		name    string
		path    string
		headers map[string]string
		status  int
	}{
		{"known token", "/logs", map[string]string{"Logplex-Drain-Token": "d.aaa"}, 200},
		{"known token, its app in the path", "/logs/blog", map[string]string{"Logplex-Drain-Token": "d.bbb"}, 200},
		{"unknown token", "/logs", map[string]string{"Logplex-Drain-Token": "d.zzz"}, 403},
		{"no token", "/logs/shop", nil, 403},
		{"another app's token", "/logs/shop", map[string]string{"Logplex-Drain-Token": "d.bbb"}, 403},
		{"plain http through the router", "/logs", map[string]string{"Logplex-Drain-Token": "d.aaa", "X-Forwarded-Proto": "http"}, 403},
	}
	for _, tt := range tests {
		code, body := e.do(t, req{path: tt.path, pass: pass, user: "x", body: fixture(t), headers: tt.headers})
		if code != tt.status {
			t.Errorf("%s: %d %q, want %d", tt.name, code, body, tt.status)
		}
	}
	shop, _ := db.Memory(context.Background(), store.Filter{App: "shop"})
	blog, _ := db.Memory(context.Background(), store.Filter{App: "blog"})
	if len(shop) != 3 || len(blog) != 3 {
		t.Errorf("shop %d blog %d", len(shop), len(blog))
	}
	if c := e.counts(t); c["frames"] != 0 || c["memory"] != 6 {
		t.Errorf("counts %v", c)
	}
}

func TestRequestIDs(t *testing.T) {
	e := newEnv(t, nil)
	hr, _ := http.NewRequest("POST", e.srv.URL+"/logs/myapp", strings.NewReader("junk"))
	hr.SetBasicAuth(user, pass)
	hr.Header.Set("X-Request-Id", "router-req-123")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Request-Id") != "router-req-123" || !strings.Contains(e.logs.String(), "request_id=router-req-123") {
		t.Errorf("request id not kept: %q / %s", resp.Header.Get("X-Request-Id"), e.logs)
	}
	_, _ = e.do(t, req{user: user, pass: pass, body: []byte("junk")})
	if !regexp.MustCompile(`request_id=[0-9a-f]{16}`).MatchString(e.logs.String()) {
		t.Errorf("no generated request id in %s", e.logs)
	}
}
