package rollup

import (
	"math"
	"reflect"
	"testing"
	"time"

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

// Ranges reads whole hours from hour rows and the edges from minute rows.
func TestRanges(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 12, 3, h, m, 0, 0, time.UTC) }
	for _, c := range []struct {
		since, until     time.Time
		hours            bool
		hourFrom, hourTo time.Time
		minutes          [][2]time.Time
	}{
		{at(10, 5), at(10, 50), false, time.Time{}, time.Time{}, [][2]time.Time{{at(10, 5), at(10, 50)}}},
		{at(10, 5), at(13, 20), true, at(11, 0), at(13, 0), [][2]time.Time{{at(10, 5), at(11, 0)}, {at(13, 0), at(13, 20)}}},
		{at(10, 0), at(12, 0), true, at(10, 0), at(12, 0), nil},
		{time.Time{}, at(12, 30), true, time.Time{}, at(12, 0), [][2]time.Time{{at(12, 0), at(12, 30)}}},
	} {
		hours, from, to, minutes := Ranges(c.since, c.until)
		if hours != c.hours || !from.Equal(c.hourFrom) || !to.Equal(c.hourTo) || !reflect.DeepEqual(minutes, c.minutes) {
			t.Errorf("Ranges(%s, %s) = %v %s %s %v", c.since, c.until, hours, from, to, minutes)
		}
	}
}
