package sqlite

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/drainwatch/drainwatch/parser"
)

// A batch is committed as three rows: its Logplex-Frame-Id, its app lines
// as the text of their app_logs row, and one pending_batches row holding
// every other line in compact form. That commit is what the drain's
// acknowledgement waits for, so it is kept small: the rows the other lines
// become (rollup rows with DDSketches rewritten whole, memory samples,
// errors, events) are written by the roller every FlushEvery, many batches
// to one transaction, which deletes the pending rows it has stored.
// Writing them in every commit was most of the writer's time; see the
// README's Performance section for the figures.
//
// The router section, version 1:
//
//	byte 1 | uvarint #strings | #strings × (uvarint len, bytes)
//	uvarint #lines | #lines × line
//
// line: varint seconds since the previous line (the first: since the
// epoch), uvarints dyno and path-template string indexes, uvarint code
// index + 1 (0: no H-code), then zigzag varints status, service ms, connect
// ms and bytes (-1: absent).
//
// The rest section holds the lines that are neither router lines nor the
// app's own (and router lines with an H-code, which are errors too),
// version 1:
//
//	byte 1 | uvarint #lines | #lines × (varint Unix seconds since the
//	previous line, uvarint nanoseconds, then app name, proc id and message,
//	each uvarint len, bytes)
//
// The roller parses each message again (parser.Parse) to store it.
const pendingVersion = 1

// routerLineBytes is room enough for most router lines' encoding (eight
// varints: 10-15 bytes for the bench's lines).
const routerLineBytes = 16

// pendingLine is one router line as the rollups need it.
type pendingLine struct {
	unix                  int64 // seconds
	dyno, path, code      string
	dynoIdx, pathIdx      uint64 // of dyno and path in the batch's strings
	status                int64
	service, connect, len int64
}

// pendingBatch is one batch's lines, encoded.
type pendingBatch struct {
	router []byte
	rest   []byte
	lines  int // router lines

	logs                []byte // app lines: "RFC3339 proc message\n" each
	logsFirst, logsLast int64  // Unix microseconds
	logsLines           int
}

// encodePending encodes events, router lines with their path templates. It
// runs in Write, on the caller's goroutine, so that this per-line work is
// spread over the request goroutines rather than done by the one writer.
func encodePending(events []parser.Event) pendingBatch {
	// Each buffer at its final size, once: grown by appends, they were
	// nearly three quarters of the daemon's allocations (96 of 134 KB a
	// 100 KiB body).
	var nrouter, nlogs, nrest, nrestBytes int
	for i := range events {
		ev := &events[i]
		switch {
		case ev.Kind == parser.KindApp:
			nlogs += len(time.RFC3339Nano) + len(ev.ProcID) + len(ev.Message) + 3
		case ev.Kind == parser.KindRouter && len(ev.Router.Code) == 0:
			nrouter++
		default:
			nrest++
			nrestBytes += 2*binary.MaxVarintLen64 + len(ev.AppName) + len(ev.ProcID) + len(ev.Message) + 3*binary.MaxVarintLen64
			if ev.Kind == parser.KindRouter {
				nrouter++
			}
		}
	}
	var pb pendingBatch
	if nlogs > 0 {
		pb.logs = make([]byte, 0, nlogs)
	}
	var strs []string
	index := make(map[string]uint64, 16)
	intern := func(b []byte) uint64 {
		if i, ok := index[string(b)]; ok { // no allocation for the lookup
			return i
		}
		s := string(b)
		index[s] = uint64(len(strs))
		strs = append(strs, s)
		return uint64(len(strs) - 1)
	}
	var scratch []byte
	template := func(path []byte) uint64 {
		scratch = parser.AppendPathTemplate(scratch[:0], path)
		return intern(scratch)
	}
	lines := make([]byte, 0, nrouter*routerLineBytes)
	var prev int64
	var rest []byte
	if nrest > 0 {
		rest = make([]byte, 0, 1+binary.MaxVarintLen64+nrestBytes)
		rest = binary.AppendUvarint(append(rest, pendingVersion), uint64(nrest))
	}
	var prevSec int64
	for i := range events {
		ev := &events[i]
		if ev.Kind == parser.KindApp {
			pb.addLog(ev)
			continue
		}
		if ev.Kind != parser.KindRouter || len(ev.Router.Code) > 0 {
			t := ev.Time.Unix()
			rest = binary.AppendVarint(rest, t-prevSec)
			rest = binary.AppendUvarint(rest, uint64(ev.Time.Nanosecond()))
			prevSec = t
			for _, b := range [][]byte{ev.AppName, ev.ProcID, ev.Message} {
				rest = binary.AppendUvarint(rest, uint64(len(b)))
				rest = append(rest, b...)
			}
		}
		if ev.Kind != parser.KindRouter {
			continue
		}
		r := &ev.Router
		t := ev.Time.Unix()
		pb.lines++
		lines = binary.AppendVarint(lines, t-prev)
		prev = t
		lines = binary.AppendUvarint(lines, intern(ev.Dyno))
		lines = binary.AppendUvarint(lines, template(r.Path))
		code := uint64(0)
		if len(r.Code) > 0 {
			code = intern(r.Code) + 1
		}
		lines = binary.AppendUvarint(lines, code)
		lines = binary.AppendVarint(lines, int64(r.Status))
		lines = binary.AppendVarint(lines, r.ServiceMS)
		lines = binary.AppendVarint(lines, r.ConnectMS)
		lines = binary.AppendVarint(lines, r.Bytes)
	}
	pb.rest = rest
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
	pb.router = append(body, lines...)
	return pb
}

// addLog appends an app line to the batch's app_logs text.
func (pb *pendingBatch) addLog(ev *parser.Event) {
	t := ev.Time.UnixMicro()
	if pb.logsLines == 0 || t < pb.logsFirst {
		pb.logsFirst = t
	}
	if pb.logsLines == 0 || t > pb.logsLast {
		pb.logsLast = t
	}
	pb.logsLines++
	pb.logs = ev.Time.AppendFormat(pb.logs, time.RFC3339Nano)
	pb.logs = append(pb.logs, ' ')
	pb.logs = append(pb.logs, ev.ProcID...)
	pb.logs = append(pb.logs, ' ')
	pb.logs = append(pb.logs, ev.Message...)
	pb.logs = append(pb.logs, '\n')
}

var errPendingCorrupt = errors.New("store: corrupt pending_batches row")

// decodePending calls fn with each line of an encoded batch. The strings
// of the lines are shared between lines; fn may keep them.
func decodePending(body []byte, fn func(*pendingLine) error) error {
	if len(body) == 0 || body[0] != pendingVersion {
		return errPendingCorrupt
	}
	r := sectionReader{p: body[1:]}
	nstr := r.uvarint()
	if nstr > uint64(len(r.p)) {
		return errPendingCorrupt
	}
	strs := make([]string, nstr)
	for i := range strs {
		strs[i] = string(r.bytes())
	}
	str := func(i uint64) string {
		if i >= uint64(len(strs)) {
			r.bad = true
			return ""
		}
		return strs[i]
	}
	var l pendingLine
	nlines := r.uvarint()
	for i := uint64(0); i < nlines && !r.bad; i++ {
		l.unix += r.varint()
		l.dynoIdx = r.uvarint()
		l.dyno = str(l.dynoIdx)
		l.pathIdx = r.uvarint()
		l.path = str(l.pathIdx)
		l.code = ""
		if c := r.uvarint(); c > 0 {
			l.code = str(c - 1)
		}
		l.status, l.service, l.connect, l.len = r.varint(), r.varint(), r.varint(), r.varint()
		if r.bad {
			break
		}
		if err := fn(&l); err != nil {
			return err
		}
	}
	return r.end()
}

// sectionReader reads the varints and length-prefixed bytes of a pending
// section. A read past the end or a bad varint sets bad, and reads after
// it return zero values.
type sectionReader struct {
	p   []byte
	bad bool
}

func (r *sectionReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.p)
	if n <= 0 || r.bad {
		r.bad = true
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *sectionReader) varint() int64 {
	v, n := binary.Varint(r.p)
	if n <= 0 || r.bad {
		r.bad = true
		return 0
	}
	r.p = r.p[n:]
	return v
}

// bytes reads a uvarint length and that many bytes, a view into the section.
func (r *sectionReader) bytes() []byte {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.p)) {
		r.bad = true
		return nil
	}
	b := r.p[:n]
	r.p = r.p[n:]
	return b
}

// end is the error of a whole read: nil only if nothing was bad and nothing
// is left over.
func (r *sectionReader) end() error {
	if r.bad || len(r.p) != 0 {
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

// decodeRest calls fn with the header of each line of a rest section; its
// byte fields are views into rest.
func decodeRest(rest []byte, fn func(*parser.Header) error) error {
	if len(rest) == 0 {
		return nil
	}
	if rest[0] != pendingVersion {
		return errPendingCorrupt
	}
	r := sectionReader{p: rest[1:]}
	n := r.uvarint()
	if n > uint64(len(r.p)) {
		return errPendingCorrupt
	}
	var h parser.Header
	var t int64
	for i := uint64(0); i < n && !r.bad; i++ {
		t += r.varint()
		ns := r.uvarint()
		h.AppName, h.ProcID, h.Message = r.bytes(), r.bytes(), r.bytes()
		if r.bad || ns >= 1e9 {
			return errPendingCorrupt
		}
		h.Time = time.Unix(t, int64(ns)).UTC()
		if err := fn(&h); err != nil {
			return err
		}
	}
	return r.end()
}
