package drain

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

// memoryBody is n runtime-metrics lines, one per dyno web.1…web.n.
func memoryBody(n int) []byte {
	var b strings.Builder
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00")
	for i := 1; i <= n; i++ {
		b.WriteString(frame(fmt.Sprintf("<45>1 %s host heroku web.%d - source=web.%d dyno=heroku.1.boot sample#memory_total=%d.00MB sample#memory_quota=512.00MB", ts, i, i, 100+i)))
	}
	return []byte(b.String())
}

func realWriter(t *testing.T) (*sqlite.DB, *sqlite.Writer) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := sqlite.NewWriter(db, sqlite.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); db.Close() })
	return db, w
}

func startHandler(t *testing.T, cfg Config, w store.BatchWriter) (*Handler, *env) {
	t.Helper()
	cfg.User, cfg.Password = user, pass
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := New(cfg, w)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{h: h, srv: httptest.NewServer(h)}
	t.Cleanup(e.srv.Close)
	return h, e
}

// TestDrainStoresLargeBodyInChunks: a body of more than ChunkLines frames
// is stored a chunk at a time, each with its own frame id; when one fails,
// the retry stores only the chunks not stored before.
func TestDrainStoresLargeBodyInChunks(t *testing.T) {
	db, real := realWriter(t)
	var mu sync.Mutex
	var ids []string
	failOnce := true
	w := &fakeWriter{WriteFn: func(ctx context.Context, b *store.Batch) (store.Result, error) {
		mu.Lock()
		ids = append(ids, fmt.Sprintf("%s:%d", b.FrameID, len(b.Events)))
		fail := b.FrameID == "F/1" && failOnce
		if fail {
			failOnce = false
		}
		mu.Unlock()
		if fail {
			return store.Result{}, store.ErrQueueFull
		}
		return real.Write(ctx, b)
	}}
	h, e := startHandler(t, Config{ChunkLines: 10}, w)
	body := memoryBody(25)
	send := func() (int, string) {
		return e.do(t, req{user: user, pass: pass, body: body, headers: map[string]string{"Logplex-Frame-Id": "F", "Logplex-Msg-Count": "25"}})
	}
	if code, resp := send(); code != 503 {
		t.Fatalf("second chunk failing: %d %q, want 503", code, resp)
	}
	if code, resp := send(); code != 200 || resp != "ok stored=15 skipped=0\n" {
		t.Fatalf("retry: %d %q, want the 15 lines not stored before", code, resp)
	}
	if code, resp := send(); code != 200 || resp != "ok duplicate\n" {
		t.Fatalf("second retry: %d %q", code, resp)
	}
	want := "F:10 F/1:10 F:10 F/1:10 F/2:5 F:10 F/1:10 F/2:5"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("batches written %s, want %s", got, want)
	}
	mem, err := db.Memory(context.Background(), store.Filter{App: "myapp"})
	if err != nil || len(mem) != 25 {
		t.Errorf("%d memory rows (%v), want 25, each once", len(mem), err)
	}
	if h.Stats.Chunked.Load() != 2 || h.Stats.Duplicates.Load() != 1 || h.Stats.Stored.Load() != 25 {
		t.Errorf("chunked %d duplicates %d stored %d", h.Stats.Chunked.Load(), h.Stats.Duplicates.Load(), h.Stats.Stored.Load())
	}
}

// TestDrainMemoryBudget: a request that cannot reserve memory for its
// body within MemoryWait is answered 503, and counted.
func TestDrainMemoryBudget(t *testing.T) {
	_, real := realWriter(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	w := &fakeWriter{WriteFn: func(ctx context.Context, b *store.Batch) (store.Result, error) {
		once.Do(func() {
			close(arrived)
			<-release
		})
		return real.Write(ctx, b)
	}}
	body := memoryBody(5)
	cfg := Config{MaxBody: 64 << 10, MemoryWait: 50 * time.Millisecond}
	probe, _ := New(Config{Password: "x", MaxBody: cfg.MaxBody}, w)
	cfg.Memory = probe.reservation(int64(len(body)), false) // room for one such request
	h, e := startHandler(t, cfg, w)
	first := make(chan string, 1)
	go func() {
		code, resp := e.do(t, req{user: user, pass: pass, body: body})
		first <- fmt.Sprint(code, " ", resp)
	}()
	<-arrived // the first holds the whole budget, in its write
	code, resp := e.do(t, req{user: user, pass: pass, body: body})
	if code != 503 || !strings.Contains(resp, "too many bodies at once") {
		t.Errorf("second request while the budget is taken: %d %q, want 503", code, resp)
	}
	close(release)
	if got := <-first; got != "200 ok stored=5 skipped=0\n" {
		t.Errorf("first request: %q", got)
	}
	if code, resp := e.do(t, req{user: user, pass: pass, body: body}); code != 200 {
		t.Errorf("once the budget is free: %d %q", code, resp)
	}
	if n := h.Stats.Busy.Load(); n != 1 {
		t.Errorf("busy = %d, want 1", n)
	}
}
