package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/parser"
)

// A restamped body is a body of the same lines, each at the time it should
// have: the last one second before the post, the others as far before it as
// in the original, across minute and day boundaries.
func TestRestampGivesEachPostItsTimes(t *testing.T) {
	body := loadBodies(1, 20<<10)[0]
	orig := parseTimes(t, body)
	s := findStamps(body)
	if len(s.at) != len(orig) {
		t.Fatalf("found %d times, the body has %d lines", len(s.at), len(orig))
	}
	var c stampCache
	for _, now := range []time.Time{
		time.Date(2026, 11, 26, 0, 0, 1, 523456789, time.UTC), // the lines span midnight
		time.Date(2027, 1, 1, 0, 0, 3, 0, time.UTC),
		time.Date(2026, 11, 26, 12, 30, 0, 999999000, time.FixedZone("X", 3600)),
	} {
		got := s.restamp(append([]byte(nil), body...), now, &c)
		times := parseTimes(t, got)
		last := now.Add(-time.Second).Truncate(time.Microsecond)
		for i := range times {
			want := last.Add(-orig[len(orig)-1].Sub(orig[i]))
			if !times[i].Equal(want) {
				t.Fatalf("now %s: line %d at %s, want %s", now, i, times[i], want)
			}
		}
		if !bytes.Equal(stripTimes(got, s), stripTimes(body, s)) {
			t.Fatalf("restamping changed more than the times")
		}
	}
}

func parseTimes(t *testing.T, body []byte) []time.Time {
	t.Helper()
	events, st := parser.ParseBody(body, 0, nil)
	if st.Skipped() > 0 {
		t.Fatalf("%d frames skipped: %v", st.Skipped(), st.FirstError)
	}
	var out []time.Time
	for _, ev := range events {
		out = append(out, ev.Time)
	}
	return out
}

func stripTimes(body []byte, s *bodyStamps) []byte {
	out := append([]byte(nil), body...)
	for _, at := range s.at {
		copy(out[at:], bytes.Repeat([]byte{'x'}, len(stampLayout)))
	}
	return out
}

// The cost of restamping a 100 KiB body, beside formatting each time with
// time.Time.AppendFormat: the load generator shares the daemon's cores.
func BenchmarkRestamp(b *testing.B) {
	body := loadBodies(1, 100<<10)[0]
	s := findStamps(body)
	buf := append([]byte(nil), body...)
	now := time.Now()
	b.Run("cache", func(b *testing.B) {
		var c stampCache
		for i := 0; i < b.N; i++ {
			s.restamp(buf, now.Add(time.Duration(i)*time.Millisecond), &c)
		}
	})
	b.Run("format", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			last := now.Add(time.Duration(i) * time.Millisecond).UTC()
			for j, at := range s.at {
				last.Add(-s.back[j]).AppendFormat(buf[at:at], stampLayout)
			}
		}
	})
}
