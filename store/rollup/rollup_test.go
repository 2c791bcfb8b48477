package rollup

import (
	"math"
	"testing"

	"github.com/drainwatch/drainwatch/store/pending"
)

func TestCodes(t *testing.T) {
	if got := EncodeCodes(map[string]int64{"H13": 1, "H12": 3}); got != "H12=3,H13=1" {
		t.Errorf("encode: %q", got)
	}
	if got := MergeCodes("H12=3,H13=1", "H12=2,H10=4"); got != "H10=4,H12=5,H13=1" {
		t.Errorf("merge: %q", got)
	}
	if got := MergeCodes("", ""); got != "" {
		t.Errorf("merge of nothing: %q", got)
	}
}

// Rows built apart and merged, or encoded and their encodings concatenated
// (as a backend merges in SQL), hold every line of both.
func TestAccMergesAcrossEncodings(t *testing.T) {
	a, b := NewAcc(), NewAcc()
	for i := 0; i < 100; i++ {
		a.Add(&pending.RouterLine{Unix: 1700000000, Dyno: "web.1", Path: "/", Status: 200, Service: int64(i), Connect: 1, Len: 10})
		b.Add(&pending.RouterLine{Unix: 1700000030, Dyno: "web.1", Path: "/", Status: 503, Code: "H12", Service: 30000, Connect: -1})
	}
	as, ac := a.EncodeSketches(nil)
	bs, bc := b.EncodeSketches(nil)
	joined := NewAcc()
	if err := joined.Decode(MergeCodes(EncodeCodes(a.Codes), EncodeCodes(b.Codes)), append(append([]byte{}, as...), bs...), append(append([]byte{}, ac...), bc...)); err != nil {
		t.Fatal(err)
	}
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	if a.Count != 200 || a.Errors != 100 || a.Bytes != 1000 || a.Codes["H12"] != 100 {
		t.Errorf("merged row %+v", a)
	}
	for _, s := range []struct {
		name      string
		got, want float64
	}{
		{"service count", joined.Service.GetCount(), a.Service.GetCount()},
		{"connect count", joined.Connect.GetCount(), 100},
		{"codes", float64(joined.Codes["H12"]), 100},
	} {
		if s.got != s.want {
			t.Errorf("%s: %v, want %v", s.name, s.got, s.want)
		}
	}
	p99, _ := joined.Service.GetValueAtQuantile(0.99)
	if math.Abs(p99-30000)/30000 > SketchAccuracy*1.01 {
		t.Errorf("p99 %.0f, want 30000 within 1%%", p99)
	}
	if k := KeyOf("app", &pending.RouterLine{Unix: 1700000030, Dyno: "web.1", Path: "/", Status: 0}); k.Start != 1699999980*1e6 || k.Class != "-" || k.Res != Minute {
		t.Errorf("key %+v", k)
	}
}
