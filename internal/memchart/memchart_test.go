package memchart

import (
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/store"
)

func mb(v float64) *float64 { return &v }

// Samples every 20 s over two minutes in buckets of a minute: the highest
// of each figure per bucket, a restart inside a bucket kept as two points,
// samples without memory_total left out, and the last quota reported.
func TestBuckets(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	samples := []store.MemorySample{
		{Time: at(0), Boot: "a", TotalMB: mb(300), RSSMB: mb(290), QuotaMB: mb(512)},
		{Time: at(20), Boot: "a", TotalMB: mb(320), RSSMB: mb(280), SwapMB: mb(4)},
		{Time: at(40), Boot: "a", TotalMB: mb(310), RSSMB: mb(300)},
		{Time: at(60), Boot: "a", TotalMB: mb(330)},
		{Time: at(80), Boot: "b", TotalMB: mb(100), QuotaMB: mb(1024)}, // restarted, on a bigger dyno
		{Time: at(100), Boot: "b", RSSMB: mb(900)},                     // no memory_total
	}
	got := Buckets(samples, t0, time.Minute)
	want := []Point{
		{T: t0, Total: 320, RSS: 300, Swap: 4, Boot: "a"},
		{T: at(60), Total: 330, Boot: "a"},
		{T: at(60), Total: 100, Boot: "b"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("point %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if r := Restarts(got); len(r) != 1 || r[0] != 2 {
		t.Errorf("restarts %v, want [2]", r)
	}
	if q := Quota(samples); q != 1024 {
		t.Errorf("quota %v, want the last one reported, 1024", q)
	}
	if q := Quota(samples[1:4]); q != 0 {
		t.Errorf("quota %v where no sample says it", q)
	}
}
