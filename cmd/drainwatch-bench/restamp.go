package main

import (
	"bytes"
	"time"
)

// The bench posts the same few bodies over and over. A drain never sees
// that: each batch carries lines of the seconds before it was sent, so the
// rows a daemon stores land at the end of its time indexes. Posting the same
// times again and again instead scatters them over the indexes, a cost no
// drain has and one that grows as the run goes on. So each post gets the
// times of the moment it is sent: the body's last line one second before,
// the others as far before it as they were in the body. The ceiling's server
// never reads the times; its loads are posted as they are, so that this work
// is charged to drainwatch's run only.

// stampLayout is the time format of the bench's lines: fixed width, so a
// new time is written over the old one in place.
const stampLayout = "2006-01-02T15:04:05.000000+00:00"

// bodyStamps says where the times of a body's lines are.
type bodyStamps struct {
	at   []int           // offset of each line's time in the body
	back []time.Duration // how long before the body's last line each line is
}

// findStamps finds the times of a body made by loadBodies.
func findStamps(body []byte) *bodyStamps {
	var s bodyStamps
	var times []time.Time
	marker := []byte("<158>1 ")
	for from := 0; ; {
		i := bytes.Index(body[from:], marker)
		if i < 0 {
			break
		}
		at := from + i + len(marker)
		if at+len(stampLayout) > len(body) {
			break
		}
		t, err := time.Parse(stampLayout, string(body[at:at+len(stampLayout)]))
		if err != nil {
			break
		}
		s.at = append(s.at, at)
		times = append(times, t)
		from = at + len(stampLayout)
	}
	var last time.Time
	for _, t := range times {
		if t.After(last) {
			last = t
		}
	}
	for _, t := range times {
		s.back = append(s.back, last.Sub(t))
	}
	return &s
}

// restamp writes into body (a copy of the body findStamps read) the times
// of a post sent at now.
func (s *bodyStamps) restamp(body []byte, now time.Time, c *stampCache) []byte {
	last := now.Add(-time.Second).UTC()
	for i, at := range s.at {
		c.put(body[at:at+len(stampLayout)], last.Add(-s.back[i]))
	}
	return body
}

// stampCache formats times in stampLayout, the date and minute once a
// minute: the load generator shares the machine with the daemon, so its own
// cost per line must stay small beside time.AppendFormat's
// (BenchmarkRestamp compares the two).
type stampCache struct {
	minute int64  // Unix minute of prefix
	prefix []byte // "2006-01-02T15:04:"
}

// put writes t (UTC) into dst, which holds a time in stampLayout.
func (c *stampCache) put(dst []byte, t time.Time) {
	if m := t.Unix() / 60; m != c.minute || c.prefix == nil {
		c.minute = m
		c.prefix = t.AppendFormat(c.prefix[:0], "2006-01-02T15:04:")
	}
	n := copy(dst, c.prefix)
	sec := t.Second()
	dst[n], dst[n+1] = byte('0'+sec/10), byte('0'+sec%10)
	dst[n+2] = '.'
	us := t.Nanosecond() / 1000
	for i := n + 8; i > n+2; i-- {
		dst[i] = byte('0' + us%10)
		us /= 10
	}
}
