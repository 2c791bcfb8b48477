package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/drainwatch/drainwatch/internal/testbody"
	"github.com/drainwatch/drainwatch/parser"

	"github.com/drainwatch/drainwatch/store"
)

// benchBody is the ~100 KiB body the parser and store benchmarks share
// (testbody.Mixed): four router lines to one other line.
func benchBody(b *testing.B) ([]byte, int) {
	body, n, err := testbody.Mixed("../../parser/testdata/messages.txt", 100<<10)
	if err != nil {
		b.Fatal(err)
	}
	return body, n
}

// BenchmarkIngest measures parse + store of whole bodies through the one
// writer, from 4 concurrent senders as the drain sees them, with fsync on
// every commit (the default) and without. The parse-only figure of the same
// body is BenchmarkParse in package parser.
func BenchmarkIngest(b *testing.B) {
	body, n := benchBody(b)
	for _, tc := range []struct {
		noSync, raw bool
	}{{false, false}, {true, false}, {false, true}} {
		b.Run(fmt.Sprintf("nosync=%v/raw=%v", tc.noSync, tc.raw), func(b *testing.B) {
			db, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: tc.noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			w, err := NewWriter(db, WriterOptions{QueueLen: 16, RawRequests: tc.raw})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var wg sync.WaitGroup
			work := make(chan struct{})
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var events []parser.Event
					for range work {
						var st parser.BodyStats
						events, st = parser.ParseBody(body, 0, events)
						if st.Parsed != n {
							b.Error("parse")
						}
						if _, err := w.Write(context.Background(), &store.Batch{App: "bench", Events: events}); err != nil {
							b.Error(err)
						}
					}
				}()
			}
			for b.Loop() {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
