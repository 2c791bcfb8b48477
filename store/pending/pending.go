// Package pending is the compact form of a batch's lines that a backend
// commits when it acknowledges the batch, and turns into rows later, many
// batches at a time: the router lines as the rollups need them, the app's
// own lines as text, every other line as its syslog header, parsed again
// when it is stored. It sits between the parser and the store backends, so
// that no backend needs to know how lines are parsed or paths templated.
package pending

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
// Writing them in every commit was most of the writer's time
// (docs/design.md, the store's write path).
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
const version = 1

// routerLineBytes is room enough for most router lines' encoding (eight
// varints: 10-15 bytes for the bench's lines).
const routerLineBytes = 16

// RouterLine is one router line as the rollups need it.
type RouterLine struct {
	Unix                  int64 // seconds
	Dyno, Path, Code      string
	DynoIdx, PathIdx      uint64 // of dyno and path in the batch's strings
	Status                int64
	Service, Connect, Len int64
}

// Batch is one batch's lines, encoded.
type Batch struct {
	Router []byte
	Rest   []byte
	Lines  int // router lines

	Logs                []byte // app lines: "RFC3339 proc message\n" each
	LogsFirst, LogsLast int64  // Unix microseconds
	LogsLines           int
}

// Encode encodes the events of a batch of app, router lines with their
// path templates and the dyno they are rolled up under (RollupDyno). With
// a Folder, the templates beyond its limit fold into OtherPaths; every
// backend encodes with the one Folder it is given, so all get the same
// bound. It runs in Write, on the caller's goroutine, so that this
// per-line work is spread over the request goroutines rather than done by
// the one writer.
func Encode(app string, events []parser.Event, f *Folder) Batch {
	// Each buffer is made at its final size, once: grown by appends, they
	// would be most of what encoding a batch allocates.
	sz := sizeOf(events)
	var pb Batch
	if sz.logs > 0 {
		pb.Logs = make([]byte, 0, sz.logs)
	}
	tab := strTable{index: make(map[string]uint64, 16)}
	var paths []uint64 // with a Folder, each router line's template, folded or not
	if f != nil && sz.router > 0 {
		paths = tab.foldPaths(app, events, sz.router, f)
	}
	lines := make([]byte, 0, sz.router*routerLineBytes)
	var rest []byte
	if sz.rest > 0 {
		rest = make([]byte, 0, 1+binary.MaxVarintLen64+sz.restBytes)
		rest = binary.AppendUvarint(append(rest, version), uint64(sz.rest))
	}
	var prev, prevSec int64
	for i := range events {
		ev := &events[i]
		if ev.Kind == parser.KindApp {
			pb.addLog(ev)
			continue
		}
		if ev.Kind != parser.KindRouter || len(ev.Router.Code) > 0 {
			rest = appendRest(rest, ev, &prevSec)
		}
		if ev.Kind == parser.KindRouter {
			pb.Lines++
			path := noPath
			if paths != nil {
				path = paths[pb.Lines-1]
			}
			lines = tab.appendRouterLine(lines, ev, &prev, path)
		}
	}
	pb.Rest = rest
	if pb.Lines > 0 {
		pb.Router = tab.routerBody(pb.Lines, lines)
	}
	return pb
}

// sizes are what a batch's buffers will hold.
type sizes struct {
	router, logs, rest, restBytes int // router lines; bytes of app lines; other lines and their bytes at most
}

func sizeOf(events []parser.Event) sizes {
	var sz sizes
	for i := range events {
		ev := &events[i]
		switch {
		case ev.Kind == parser.KindApp:
			sz.logs += len(time.RFC3339Nano) + len(ev.ProcID) + len(ev.Message) + 3
		case ev.Kind == parser.KindRouter && len(ev.Router.Code) == 0:
			sz.router++
		default:
			sz.rest++
			sz.restBytes += 2*binary.MaxVarintLen64 + len(ev.AppName) + len(ev.ProcID) + len(ev.Message) + 3*binary.MaxVarintLen64
			if ev.Kind == parser.KindRouter {
				sz.router++
			}
		}
	}
	return sz
}

// appendRest appends a line other than a plain router line, as its time
// (seconds since the line before, prevSec) and its app, proc and message.
func appendRest(rest []byte, ev *parser.Event, prevSec *int64) []byte {
	t := ev.Time.Unix()
	rest = binary.AppendVarint(rest, t-*prevSec)
	rest = binary.AppendUvarint(rest, uint64(ev.Time.Nanosecond()))
	*prevSec = t
	for _, b := range [][]byte{ev.AppName, ev.ProcID, ev.Message} {
		rest = binary.AppendUvarint(rest, uint64(len(b)))
		rest = append(rest, b...)
	}
	return rest
}

// strTable numbers the strings of a batch's router lines (dynos, path
// templates, H-codes), each stored once.
type strTable struct {
	strs    []string
	index   map[string]uint64
	scratch []byte
}

func (t *strTable) intern(b []byte) uint64 {
	if i, ok := t.index[string(b)]; ok { // no allocation for the lookup
		return i
	}
	s := string(b)
	t.index[s] = uint64(len(t.strs))
	t.strs = append(t.strs, s)
	return uint64(len(t.strs) - 1)
}

// template numbers the path template of path.
func (t *strTable) template(path []byte) uint64 {
	t.scratch = parser.AppendPathTemplate(t.scratch[:0], path)
	return t.intern(t.scratch)
}

// noPath, as appendRouterLine's path, means "template the line's path".
const noPath = ^uint64(0)

// appendRouterLine appends a router line's fields, its time as seconds
// since the line before (prev), its strings as numbers in t: its dyno as
// rolled up (RollupDyno), and path, or its path's template when path is
// noPath.
func (t *strTable) appendRouterLine(lines []byte, ev *parser.Event, prev *int64, path uint64) []byte {
	r := &ev.Router
	sec := ev.Time.Unix()
	lines = binary.AppendVarint(lines, sec-*prev)
	*prev = sec
	lines = binary.AppendUvarint(lines, t.intern(RollupDyno(ev.Dyno)))
	if path == noPath {
		path = t.template(r.Path)
	}
	lines = binary.AppendUvarint(lines, path)
	code := uint64(0)
	if len(r.Code) > 0 {
		code = t.intern(r.Code) + 1
	}
	lines = binary.AppendUvarint(lines, code)
	lines = binary.AppendVarint(lines, int64(r.Status))
	lines = binary.AppendVarint(lines, r.ServiceMS)
	lines = binary.AppendVarint(lines, r.ConnectMS)
	return binary.AppendVarint(lines, r.Bytes)
}

// foldPaths numbers the templates of the n router lines of a batch of app,
// in order, those the Folder folds as OtherPaths: it decides once a batch,
// for each template and hour.
func (t *strTable) foldPaths(app string, events []parser.Event, n int, f *Folder) []uint64 {
	paths := make([]uint64, 0, n)
	which := make([]int32, 0, n) // the key of each router line
	var keys []foldKey
	// A batch's lines are nearly always of one hour: the keys of that hour
	// by template number, of any other in a map.
	var hour0 int64
	var inHour0 []int32 // key + 1 by template number
	type th struct {
		path uint64
		hour int64
	}
	var later map[th]int32
	for i := range events {
		ev := &events[i]
		if ev.Kind != parser.KindRouter {
			continue
		}
		p := t.template(ev.Router.Path)
		sec := ev.Time.Unix()
		h := sec - sec%3600
		if len(paths) == 0 {
			hour0 = h
		}
		var j int32
		if h == hour0 {
			for uint64(len(inHour0)) <= p {
				inHour0 = append(inHour0, 0)
			}
			if j = inHour0[p] - 1; j < 0 {
				j = int32(len(keys))
				inHour0[p] = j + 1
				keys = append(keys, foldKey{path: p, hour: h})
			}
		} else {
			if later == nil {
				later = map[th]int32{}
			}
			var ok bool
			if j, ok = later[th{p, h}]; !ok {
				j = int32(len(keys))
				later[th{p, h}] = j
				keys = append(keys, foldKey{path: p, hour: h})
			}
		}
		keys[j].lines++
		paths = append(paths, p)
		which = append(which, j)
	}
	folded := make([]bool, len(keys))
	f.fold(app, keys, t.strs, folded)
	other := noPath
	for i, j := range which {
		if folded[j] {
			if other == noPath {
				other = t.intern([]byte(OtherPaths))
			}
			paths[i] = other
		}
	}
	return paths
}

// routerBody is the router column: the version, the strings, then n lines.
func (t *strTable) routerBody(n int, lines []byte) []byte {
	size := 1 + binary.MaxVarintLen64*2 + len(lines)
	for _, s := range t.strs {
		size += binary.MaxVarintLen64 + len(s)
	}
	body := make([]byte, 0, size)
	body = append(body, version)
	body = binary.AppendUvarint(body, uint64(len(t.strs)))
	for _, s := range t.strs {
		body = binary.AppendUvarint(body, uint64(len(s)))
		body = append(body, s...)
	}
	body = binary.AppendUvarint(body, uint64(n))
	return append(body, lines...)
}

// addLog appends an app line to the batch's app_logs text.
func (pb *Batch) addLog(ev *parser.Event) {
	t := ev.Time.UnixMicro()
	if pb.LogsLines == 0 || t < pb.LogsFirst {
		pb.LogsFirst = t
	}
	if pb.LogsLines == 0 || t > pb.LogsLast {
		pb.LogsLast = t
	}
	pb.LogsLines++
	pb.Logs = ev.Time.AppendFormat(pb.Logs, time.RFC3339Nano)
	pb.Logs = append(pb.Logs, ' ')
	pb.Logs = append(pb.Logs, ev.ProcID...)
	pb.Logs = append(pb.Logs, ' ')
	pb.Logs = append(pb.Logs, ev.Message...)
	pb.Logs = append(pb.Logs, '\n')
}

var ErrCorrupt = errors.New("pending: corrupt batch")

// DecodeRouter calls fn with each line of an encoded batch. The strings
// of the lines are shared between lines; fn may keep them.
func DecodeRouter(body []byte, fn func(*RouterLine) error) error {
	if len(body) == 0 || body[0] != version {
		return ErrCorrupt
	}
	r := reader{p: body[1:]}
	nstr := r.uvarint()
	if nstr > uint64(len(r.p)) {
		return ErrCorrupt
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
	var l RouterLine
	nlines := r.uvarint()
	for i := uint64(0); i < nlines && !r.bad; i++ {
		l.Unix += r.varint()
		l.DynoIdx = r.uvarint()
		l.Dyno = str(l.DynoIdx)
		l.PathIdx = r.uvarint()
		l.Path = str(l.PathIdx)
		l.Code = ""
		if c := r.uvarint(); c > 0 {
			l.Code = str(c - 1)
		}
		l.Status, l.Service, l.Connect, l.Len = r.varint(), r.varint(), r.varint(), r.varint()
		if r.bad {
			break
		}
		if err := fn(&l); err != nil {
			return err
		}
	}
	return r.end()
}

// reader reads the varints and length-prefixed bytes of a pending
// section. A read past the end or a bad varint sets bad, and reads after
// it return zero values.
type reader struct {
	p   []byte
	bad bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.p)
	if n <= 0 || r.bad {
		r.bad = true
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.p)
	if n <= 0 || r.bad {
		r.bad = true
		return 0
	}
	r.p = r.p[n:]
	return v
}

// bytes reads a uvarint length and that many bytes, a view into the section.
func (r *reader) bytes() []byte {
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
func (r *reader) end() error {
	if r.bad || len(r.p) != 0 {
		return ErrCorrupt
	}
	return nil
}

// DecodeRest parses the lines of a rest section again, as parser.Parse
// did when they came, into evs[:0] (reusing its events' buffers). Their
// byte fields are views into rest.
func DecodeRest(rest []byte, evs []parser.Event) ([]parser.Event, error) {
	evs = evs[:0]
	err := decodeRest(rest, func(h *parser.Header) error {
		if len(evs) < cap(evs) {
			evs = evs[:len(evs)+1]
		} else {
			evs = append(evs, parser.Event{})
		}
		parser.Parse(h, &evs[len(evs)-1])
		return nil
	})
	return evs, err
}

// decodeRest calls fn with the header of each line of a rest section; its
// byte fields are views into rest.
func decodeRest(rest []byte, fn func(*parser.Header) error) error {
	if len(rest) == 0 {
		return nil
	}
	if rest[0] != version {
		return ErrCorrupt
	}
	r := reader{p: rest[1:]}
	n := r.uvarint()
	if n > uint64(len(r.p)) {
		return ErrCorrupt
	}
	var h parser.Header
	var t int64
	for i := uint64(0); i < n && !r.bad; i++ {
		t += r.varint()
		ns := r.uvarint()
		h.AppName, h.ProcID, h.Message = r.bytes(), r.bytes(), r.bytes()
		if r.bad || ns >= 1e9 {
			return ErrCorrupt
		}
		h.Time = time.Unix(t, int64(ns)).UTC()
		if err := fn(&h); err != nil {
			return err
		}
	}
	return r.end()
}
