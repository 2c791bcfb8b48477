package alerts

import (
	"testing"

	"github.com/drainwatch/drainwatch/internal/testbody"
	"github.com/drainwatch/drainwatch/parser"
)

// The alert engine's look at each acknowledged batch, on the ~100 KiB body
// the parser and store benchmarks share.
func BenchmarkFromEvents(b *testing.B) {
	body, n, err := testbody.Mixed("../parser/testdata/messages.txt", 100<<10)
	if err != nil {
		b.Fatal(err)
	}
	events, st := parser.ParseBody(body, 0, nil)
	if st.Parsed != n {
		b.Fatal("parse")
	}
	b.ReportAllocs()
	var out []Observation
	for b.Loop() {
		out = FromEvents("app", events, out[:0])
	}
}
