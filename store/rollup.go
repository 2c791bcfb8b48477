package store

import (
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/drainwatch/drainwatch/parser"
)

// sketchAccuracy is the relative accuracy of the latency sketches: a p99 of
// 2000 ms is reported within ±20 ms.
const sketchAccuracy = 0.01

// Rollup resolutions, in seconds.
const (
	resMinute = 60
	resHour   = 3600
)

type rollKey struct {
	app               string
	res               int64 // seconds
	start             int64 // Unix microseconds
	dyno, path, class string
}

// rollAcc is one rollup row being built.
type rollAcc struct {
	count, errors, bytes int64
	codes                map[string]int64
	service, connect     *ddsketch.DDSketch
}

func newSketch() *ddsketch.DDSketch {
	s, err := ddsketch.NewDefaultDDSketch(sketchAccuracy)
	if err != nil {
		panic(err) // only for an invalid accuracy constant
	}
	return s
}

func newRollAcc() *rollAcc {
	return &rollAcc{service: newSketch(), connect: newSketch()}
}

func (a *rollAcc) merge(b *rollAcc) error {
	a.count += b.count
	a.errors += b.errors
	a.bytes += b.bytes
	for c, n := range b.codes {
		if a.codes == nil {
			a.codes = map[string]int64{}
		}
		a.codes[c] += n
	}
	if err := a.service.MergeWith(b.service); err != nil {
		return err
	}
	return a.connect.MergeWith(b.connect)
}

func encodeCodes(codes map[string]int64) string {
	if len(codes) == 0 {
		return ""
	}
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(codes[k], 10))
	}
	return b.String()
}

func decodeCodes(s string, into map[string]int64) map[string]int64 {
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		if into == nil {
			into = map[string]int64{}
		}
		into[k] += n
	}
	return into
}

func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "-"
	}
	return string(rune('0'+status/100)) + "xx"
}

// rollupBatch adds a batch's router lines to per-minute and per-hour
// accumulators: the batch's own contribution, merged into the stored rows
// at commit.
func rollupBatch(app string, events []parser.Event, into map[rollKey]*rollAcc) {
	for i := range events {
		ev := &events[i]
		if ev.Kind != parser.KindRouter {
			continue
		}
		r := &ev.Router
		path := PathTemplate(string(r.Path))
		class := statusClass(r.Status)
		dyno := string(ev.Dyno)
		t := ev.Time.Unix()
		for _, res := range [2]int64{resMinute, resHour} {
			k := rollKey{app: app, res: res, start: (t - t%res) * 1e6, dyno: dyno, path: path, class: class}
			a := into[k]
			if a == nil {
				a = newRollAcc()
				into[k] = a
			}
			a.count++
			if len(r.Code) > 0 || r.Status >= 500 {
				a.errors++
			}
			if len(r.Code) > 0 {
				if a.codes == nil {
					a.codes = map[string]int64{}
				}
				a.codes[string(r.Code)]++
			}
			if r.Bytes > 0 {
				a.bytes += r.Bytes
			}
			if r.ServiceMS >= 0 {
				a.service.Add(float64(r.ServiceMS))
			}
			if r.ConnectMS >= 0 {
				a.connect.Add(float64(r.ConnectMS))
			}
		}
	}
}

// rollupCache keeps the rows of recent buckets in memory, so that a bucket
// written by every batch for a minute is read from the database once.
type rollupCache struct {
	rows   map[rollKey]*rollAcc
	newest int64 // newest minute start seen, Unix microseconds
}

// maxCachedRows bounds the cache; past it, the oldest buckets go first.
const cacheKeep = int64(15 * 60 * 1e6) // minute buckets: 15 min; hour buckets: 15 min past their end

// apply merges a transaction's accumulators into the stored rollup rows.
func (c *rollupCache) apply(tx *sql.Tx, s *statements, batch map[rollKey]*rollAcc) error {
	if c.rows == nil {
		c.rows = map[rollKey]*rollAcc{}
	}
	var buf []byte
	for k, add := range batch {
		cur := c.rows[k]
		if cur == nil {
			var err error
			if cur, err = loadRollup(s, k); err != nil {
				return err
			}
			c.rows[k] = cur
		}
		if err := cur.merge(add); err != nil {
			return err
		}
		buf = buf[:0]
		cur.service.Encode(&buf, false)
		service := append([]byte(nil), buf...)
		buf = buf[:0]
		cur.connect.Encode(&buf, false)
		if _, err := s.rollup.Exec(k.app, k.res, k.start, k.dyno, k.path, k.class, cur.count, cur.errors, cur.bytes,
			encodeCodes(cur.codes), service, append([]byte(nil), buf...)); err != nil {
			return err
		}
		if k.res == resMinute && k.start > c.newest {
			c.newest = k.start
		}
	}
	return nil
}

// evict drops buckets that no longer receive lines.
func (c *rollupCache) evict() {
	for k := range c.rows {
		end := k.start + k.res*1e6
		if end < c.newest-cacheKeep {
			delete(c.rows, k)
		}
	}
}

func loadRollup(s *statements, k rollKey) (*rollAcc, error) {
	a := newRollAcc()
	var codes string
	var service, connect []byte
	err := s.rollupGet.QueryRow(k.app, k.res, k.start, k.dyno, k.path, k.class).Scan(&a.count, &a.errors, &a.bytes, &codes, &service, &connect)
	if errors.Is(err, sql.ErrNoRows) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load rollup: %w", err)
	}
	a.codes = decodeCodes(codes, nil)
	if len(service) > 0 {
		if err := a.service.DecodeAndMergeWith(service); err != nil {
			return nil, fmt.Errorf("load rollup sketch: %w", err)
		}
	}
	if len(connect) > 0 {
		if err := a.connect.DecodeAndMergeWith(connect); err != nil {
			return nil, fmt.Errorf("load rollup sketch: %w", err)
		}
	}
	return a, nil
}
