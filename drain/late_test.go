package drain

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

// countingObserver counts what it is shown.
type countingObserver struct {
	mu            sync.Mutex
	batches, r14s int
}

func (o *countingObserver) Observe(app string, events []parser.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.batches++
	for i := range events {
		if string(events[i].Error.Code) == "R14" {
			o.r14s++
		}
	}
}

func (o *countingObserver) counts() (int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.batches, o.r14s
}

// gateWriter holds the first batch until its client has gone, then hands
// it to the real writer: a commit that lands after logplex gave up.
type gateWriter struct {
	w       store.BatchWriter
	arrived chan struct{}
	gone    chan struct{}
	once    sync.Once
}

func (g *gateWriter) Write(ctx context.Context, b *store.Batch) (store.Result, error) {
	g.once.Do(func() {
		close(g.arrived)
		<-g.gone
	})
	return g.w.Write(ctx, b)
}

// TestBatchCommittedAfterClientLeft: a batch whose commit lands after its
// client went away is stored, logged as stored (not as a refusal, not a
// 503), and shown to the alert engine once; its retry is a duplicate and
// is not shown again. (Before: 200 R14 lines stored, and no alert.)
func TestBatchCommittedAfterClientLeft(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sw, err := sqlite.NewWriter(db, sqlite.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close(); db.Close() })
	g := &gateWriter{w: sw, arrived: make(chan struct{}), gone: make(chan struct{})}
	obs := &countingObserver{}
	logs := &syncBuffer{}
	h, err := New(Config{Password: pass, Observer: obs, Logger: slog.New(slog.NewTextHandler(logs, nil))}, g)
	if err != nil {
		t.Fatal(err)
	}
	var goneOnce sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		go func() {
			<-ctx.Done()
			goneOnce.Do(func() { close(g.gone) })
		}()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	var body strings.Builder
	stamp := time.Now().UTC().Format(time.RFC3339)
	for i := 0; i < 200; i++ {
		body.WriteString(frame("<45>1 " + stamp + " host heroku web.1 - Error R14 (Memory quota exceeded)"))
	}
	send := func(ctx context.Context) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/logs/myapp", strings.NewReader(body.String()))
		req.SetBasicAuth(user, pass)
		req.Header.Set("Content-Type", "application/logplex-1")
		req.Header.Set("Logplex-Frame-Id", "0123456789abcdef0123456789abcdef")
		return http.DefaultClient.Do(req)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := send(ctx)
		errc <- err
	}()
	<-g.arrived
	cancel() // logplex gives up
	if err := <-errc; err == nil {
		t.Fatal("the request was answered before its client left")
	}
	waitUntil(t, "the late commit logged", func() bool { return strings.Contains(logs.String(), "batch stored after its client went away") })
	if strings.Contains(logs.String(), "refused") || h.Stats.Unavailable.Load() != 0 || h.Stats.StoredLate.Load() != 1 {
		t.Errorf("a stored batch counted as refused:\n%s", logs)
	}
	if b, r14s := obs.counts(); b != 1 || r14s != 200 {
		t.Errorf("observed %d batches, %d R14s; want 1, 200", b, r14s)
	}
	// logplex retries the same Frame-Id: a duplicate, not observed again.
	resp, err := send(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(text) != "ok duplicate\n" {
		t.Fatalf("retry: %d %q", resp.StatusCode, text)
	}
	if b, r14s := obs.counts(); b != 1 || r14s != 200 {
		t.Errorf("after the retry: observed %d batches, %d R14s; want 1, 200", b, r14s)
	}
	if c, _ := db.Counts(context.Background()); c["errors"] != 200 {
		t.Errorf("stored %v", c)
	}
}
