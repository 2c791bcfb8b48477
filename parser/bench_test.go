package parser

import (
	"bytes"
	"testing"

	"github.com/drainwatch/drainwatch/internal/testbody"
	"github.com/heroku/x/logplex/encoding"
)

// benchBody is the ~100 KiB body the parser and store benchmarks share
// (testbody.Mixed): four router lines to one other line.
func benchBody(b *testing.B) ([]byte, int) {
	body, n, err := testbody.Mixed("testdata/messages.txt", 100<<10)
	if err != nil {
		b.Fatal(err)
	}
	return body, n
}

// BenchmarkFramer frames a body and reads every header.
func BenchmarkFramer(b *testing.B) {
	body, n := benchBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		f := NewFramer(body, 0)
		got := 0
		for !f.Done() {
			fr, err := f.Next()
			if err != nil || fr == nil {
				b.Fatal(err)
			}
			if _, err := ParseHeader(fr); err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != n {
			b.Fatalf("%d frames, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkParse frames a body and parses every line into typed events: the
// drain's whole parsing cost.
func BenchmarkParse(b *testing.B) {
	body, n := benchBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var ev Event
	for b.Loop() {
		f := NewFramer(body, 0)
		for !f.Done() {
			fr, err := f.Next()
			if err != nil || fr == nil {
				b.Fatal(err)
			}
			if err := ParseFrame(fr, &ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkOracleDrainScanner is the baseline: heroku/x's drain scanner over
// the same body, framing and decoding headers (no message parsing).
func BenchmarkOracleDrainScanner(b *testing.B) {
	body, n := benchBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		s := encoding.NewDrainScanner(bytes.NewReader(body))
		got := 0
		for s.Scan() {
			got++
		}
		if s.Err() != nil || got != n {
			b.Fatalf("%d frames, %v", got, s.Err())
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// Per line kind, with allocations: each must be zero.
func BenchmarkParseLine(b *testing.B) {
	for _, tc := range []struct{ name, sub string }{
		{"router", "request_id=8601b555"},
		{"router_error", "code=H12"},
		{"memory", "sample#memory_total=180.43MB"},
		{"load", "sample#load_avg_1m"},
		{"r14", "Error R14"},
		{"mem_report", "mem=680M"},
		{"lifecycle", "from up to crashed"},
		{"addon", "addon=postgresql"},
		{"app_l2met", "measure#db.latency"},
		{"app_plain", "Completed 200 OK"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var line []byte
			for _, m := range fixtureMessages(b) {
				if bytes.Contains([]byte(m), []byte(tc.sub)) {
					line = []byte(m)
				}
			}
			var ev Event
			b.ReportAllocs()
			for b.Loop() {
				if err := ParseFrame(line, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
