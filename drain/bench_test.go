package drain

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/store/sqlite"
)

// minimalBody is size bytes of the shortest frames logplex could send
// (50 bytes each: 20,971 in 1 MiB), app lines stamped t.
func minimalBody(size int, t time.Time) []byte {
	ts := t.UTC().Format("2006-01-02T15:04:05Z")
	msg := "<0>1 " + ts + " host app web.1 - xxxx"
	f := frame(msg)
	return bytes.Repeat([]byte(f), size/len(f))
}

// routerBody is about size bytes of router lines, as logplex batches them.
func routerBody(size int, t time.Time) []byte {
	ts := t.UTC().Format("2006-01-02T15:04:05.000000+00:00")
	var b bytes.Buffer
	for i := 0; b.Len() < size; i++ {
		b.WriteString(frame(fmt.Sprintf(`<158>1 %s host heroku router - at=info method=GET path="/users/%d" host=x.herokuapp.com request_id=%d fwd="1.2.3.4" dyno=web.%d connect=1ms service=%dms status=200 bytes=%d protocol=https`, ts, i, i, 1+i%4, 10+i%90, 1000+i)))
	}
	return b.Bytes()
}

// heapPeak samples the live heap every half millisecond until stop, and
// returns its peak.
func heapPeak(stop <-chan struct{}) func() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(500 * time.Microsecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { <-done; return peak.Load() }
}

// BenchmarkDrainBody posts bodies through the drain handler into a real
// store (no fsync), 4 at once, and reports the live heap's peak above where
// it started: what parsing and storing a body holds. Compare:
//
//	go test ./drain -run XXX -bench DrainBody -benchtime 20x
func BenchmarkDrainBody(b *testing.B) {
	for _, tc := range []struct {
		name string
		body func(time.Time) []byte
	}{
		{"minimal-frames-1MiB", func(t time.Time) []byte { return minimalBody(1<<20, t) }},
		{"router-100KiB", func(t time.Time) []byte { return routerBody(100<<10, t) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"), sqlite.Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			w, err := sqlite.NewWriter(db, sqlite.WriterOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { w.Close(); db.Close() }()
			h, err := New(Config{AllowNoAuth: true, MaxBody: 1 << 20, AckTimeout: time.Minute}, w)
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			body := tc.body(time.Now().Add(-time.Hour))
			lines := bytes.Count(body, []byte("\n"))
			runtime.GC()
			stop := make(chan struct{})
			var before [1]metrics.Sample
			before[0].Name = "/memory/classes/heap/objects:bytes"
			metrics.Read(before[:])
			peak := heapPeak(stop)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					client := &http.Client{}
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						req, _ := http.NewRequest("POST", srv.URL+"/logs/bench", bytes.NewReader(body))
						req.Header.Set("Content-Type", "application/logplex-1")
						req.Header.Set("Logplex-Frame-Id", fmt.Sprintf("%032x", i))
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						resp.Body.Close()
						if resp.StatusCode != 200 {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(stop)
			p := peak()
			b.ReportMetric(float64(p-min(p, before[0].Value.Uint64()))/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
