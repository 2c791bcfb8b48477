package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/drainwatch/drainwatch/parser"
)

// A batch's router lines are stored durably as one compact row of
// pending_requests in the batch's transaction, and only rolled into the
// minute rows (which hold DDSketches, rewritten whole) every FlushEvery.
// Rewriting every touched rollup row on every commit was most of the
// writer's time (BenchmarkIngest and `drainwatch bench`: see the README's
// Performance section).
//
// The row's body, version 1:
//
//	byte 1 | uvarint #strings | #strings × (uvarint len, bytes)
//	uvarint #lines | #lines × line
//
// line: varint seconds since the previous line (the first: since the
// epoch), uvarints dyno and path-template string indexes, uvarint code
// index + 1 (0: no H-code), then zigzag varints status, service ms, connect
// ms and bytes (-1: absent).
const pendingVersion = 1

// pendingLine is one router line as the rollups need it.
type pendingLine struct {
	unix                  int64 // seconds
	dyno, path, code      string
	status                int64
	service, connect, len int64
}

// pendingBatch is the encoded router lines of one batch.
type pendingBatch struct {
	body        []byte
	lines       int
	first, last int64 // minute starts, Unix microseconds
}

// encodePending encodes the router lines of events, with their path
// templates. It runs in Write, on the caller's goroutine, so that this
// per-line work is spread over the request goroutines rather than done by
// the one writer.
func encodePending(events []parser.Event) pendingBatch {
	var strs []string
	index := map[string]uint64{}
	intern := func(s string) uint64 {
		if i, ok := index[s]; ok {
			return i
		}
		index[s] = uint64(len(strs))
		strs = append(strs, s)
		return uint64(len(strs) - 1)
	}
	var lines []byte
	var pb pendingBatch
	var prev int64
	for i := range events {
		ev := &events[i]
		if ev.Kind != parser.KindRouter {
			continue
		}
		r := &ev.Router
		t := ev.Time.Unix()
		m := (t - t%60) * 1e6
		if pb.lines == 0 || m < pb.first {
			pb.first = m
		}
		if pb.lines == 0 || m > pb.last {
			pb.last = m
		}
		pb.lines++
		lines = binary.AppendVarint(lines, t-prev)
		prev = t
		lines = binary.AppendUvarint(lines, intern(string(ev.Dyno)))
		lines = binary.AppendUvarint(lines, intern(PathTemplate(string(r.Path))))
		code := uint64(0)
		if len(r.Code) > 0 {
			code = intern(string(r.Code)) + 1
		}
		lines = binary.AppendUvarint(lines, code)
		lines = binary.AppendVarint(lines, int64(r.Status))
		lines = binary.AppendVarint(lines, r.ServiceMS)
		lines = binary.AppendVarint(lines, r.ConnectMS)
		lines = binary.AppendVarint(lines, r.Bytes)
	}
	if pb.lines == 0 {
		return pb
	}
	n := 1 + binary.MaxVarintLen64*2 + len(lines)
	for _, s := range strs {
		n += binary.MaxVarintLen64 + len(s)
	}
	body := make([]byte, 0, n)
	body = append(body, pendingVersion)
	body = binary.AppendUvarint(body, uint64(len(strs)))
	for _, s := range strs {
		body = binary.AppendUvarint(body, uint64(len(s)))
		body = append(body, s...)
	}
	body = binary.AppendUvarint(body, uint64(pb.lines))
	pb.body = append(body, lines...)
	return pb
}

var errPendingCorrupt = errors.New("store: corrupt pending_requests row")

// decodePending calls fn with each line of an encoded batch. The strings
// of the lines are shared between lines; fn may keep them.
func decodePending(body []byte, fn func(*pendingLine) error) error {
	if len(body) == 0 || body[0] != pendingVersion {
		return errPendingCorrupt
	}
	p := body[1:]
	bad := false
	uv := func() uint64 {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			bad = true
			return 0
		}
		p = p[n:]
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(p)
		if n <= 0 {
			bad = true
			return 0
		}
		p = p[n:]
		return v
	}
	nstr := uv()
	if bad || nstr > uint64(len(p)) {
		return errPendingCorrupt
	}
	strs := make([]string, nstr)
	for i := range strs {
		n := uv()
		if bad || n > uint64(len(p)) {
			return errPendingCorrupt
		}
		strs[i] = string(p[:n])
		p = p[n:]
	}
	str := func(i uint64) string {
		if i >= uint64(len(strs)) {
			bad = true
			return ""
		}
		return strs[i]
	}
	nlines := uv()
	var l pendingLine
	for i := uint64(0); i < nlines && !bad; i++ {
		l.unix += sv()
		l.dyno = str(uv())
		l.path = str(uv())
		l.code = ""
		if c := uv(); c > 0 {
			l.code = str(c - 1)
		}
		l.status, l.service, l.connect, l.len = sv(), sv(), sv(), sv()
		if bad {
			break
		}
		if err := fn(&l); err != nil {
			return err
		}
	}
	if bad || len(p) != 0 {
		return errPendingCorrupt
	}
	return nil
}

// keyOf is the minute rollup row a line belongs to.
func (l *pendingLine) keyOf(app string) rollKey {
	return rollKey{app: app, res: resMinute, start: (l.unix - l.unix%60) * 1e6, dyno: l.dyno, path: l.path,
		class: statusClass(int(l.status))}
}

// add counts one line into a.
func (a *rollAcc) add(l *pendingLine) {
	a.count++
	if l.code != "" || l.status >= 500 {
		a.errors++
	}
	if l.code != "" {
		if a.codes == nil {
			a.codes = map[string]int64{}
		}
		a.codes[l.code]++
	}
	if l.len > 0 {
		a.bytes += l.len
	}
	if l.service >= 0 {
		a.service.Add(float64(l.service))
	}
	if l.connect >= 0 {
		a.connect.Add(float64(l.connect))
	}
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// pendingRollups rolls the pending router lines matching f with minute
// starts in [from, to) (zero: unbounded) up into minute rows, as if they had
// been flushed. q must be the transaction that reads the rollup rows, so that
// a flush between the two reads cannot count a line twice or not at all.
func pendingRollups(ctx context.Context, q querier, f Filter, from, to int64) (map[rollKey]*rollAcc, error) {
	where, args := "", []any{}
	if f.App != "" {
		where += " AND app = ?"
		args = append(args, f.App)
	}
	if from != 0 {
		where += " AND last >= ?"
		args = append(args, from)
	}
	if to != 0 {
		where += " AND first < ?"
		args = append(args, to)
	}
	rows, err := q.QueryContext(ctx, `SELECT app, body FROM pending_requests WHERE 1`+where, args...)
	if err != nil {
		return nil, fmt.Errorf("pending requests: %w", err)
	}
	defer rows.Close()
	out := map[rollKey]*rollAcc{}
	for rows.Next() {
		var app string
		var body []byte
		if err := rows.Scan(&app, &body); err != nil {
			return nil, fmt.Errorf("pending requests: %w", err)
		}
		err := decodePending(body, func(l *pendingLine) error {
			k := l.keyOf(app)
			if (f.Dyno != "" && k.dyno != f.Dyno) || (from != 0 && k.start < from) || (to != 0 && k.start >= to) {
				return nil
			}
			a := out[k]
			if a == nil {
				a = newRollAcc()
				out[k] = a
			}
			a.add(l)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}
