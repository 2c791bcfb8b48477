package parser

import (
	"bytes"
	"errors"
	"math"
	"strconv"
)

// ErrNotTextLine means a line is not in `heroku logs` output form.
var ErrNotTextLine = errors.New("not a heroku logs line")

// ParseFrame parses one logplex frame (from Framer.Next) into ev.
func ParseFrame(frame []byte, ev *Event) error { return ParseFrameAs(frame, ev, DialectAuto) }

// ParseFrameAs parses one frame in dialect d into ev.
func ParseFrameAs(frame []byte, ev *Event, d Dialect) error {
	h, err := ParseHeaderAs(frame, d)
	if err != nil {
		return err
	}
	Parse(&h, ev)
	return nil
}

// ParseTextLine parses one line of `heroku logs` output,
//
//	2017-10-19T09:58:58.775050+00:00 heroku[web.1]: Process running mem=680M(133.0%)
//
// into ev. A trailing newline is ignored.
func ParseTextLine(line []byte, ev *Event) error {
	h, err := ParseTextHeader(line)
	if err != nil {
		return err
	}
	Parse(&h, ev)
	return nil
}

// ParseTextHeader reads the timestamp, "app-name[procid]:" and message of a
// `heroku logs` line into a Header (Host and MsgID stay empty).
func ParseTextHeader(line []byte) (Header, error) {
	var h Header
	ts, rest := field(trimEOL(line))
	if rest == nil {
		return h, ErrNotTextLine
	}
	t, ok := ParseTime(ts)
	if !ok {
		if len(ts) < 11 || ts[4] != '-' || ts[10] != 'T' {
			return h, ErrNotTextLine // not even shaped like a timestamp
		}
		return h, ErrBadTimestamp
	}
	src, msg := field(rest)
	if msg == nil && len(src) > 0 && src[len(src)-1] == ':' {
		msg = src[len(src):] // "heroku[web.1]:" with an empty message
	}
	if msg == nil || len(src) < 4 || src[len(src)-1] != ':' || src[len(src)-2] != ']' {
		return h, ErrNotTextLine
	}
	open := bytes.IndexByte(src, '[')
	if open <= 0 {
		return h, ErrNotTextLine
	}
	h.Priority = 0
	h.Version = 1
	h.Time = t
	h.AppName = src[:open]
	h.ProcID = src[open+1 : len(src)-2]
	h.Message = msg
	return h, nil
}

// Parse fills ev from a frame's header and message. Every message becomes an
// event: one of no known shape is KindOther (platform) or KindApp.
//
// A line is read as a platform line (router, runtime metrics, R10/R12/R14/
// R15 and other coded errors, lifecycle) only when logplex marks it as
// Heroku's: APP-NAME "heroku" with PROCID "router", a dyno name ("web.1"),
// "logplex" or "api". An app cannot write those: logplex sets APP-NAME "app"
// and PROCID its dyno on everything the app prints, so the same text from
// the app's own process is an app line, and its l2met sample#/measure#
// tokens stay the app's metrics. Release and scaling lines are read from
// PROCID "api" under either APP-NAME (Heroku writes "app api"); add-on
// metrics from PROCIDs "heroku-…" ("app heroku-postgres"); log-shuttle's
// own drop notices (Error L12/L13) from PROCID "log-shuttle".
func Parse(h *Header, ev *Event) {
	ev.reset(len(h.Message))
	ev.Time = h.Time
	ev.AppName = h.AppName
	ev.ProcID = h.ProcID
	ev.Message = h.Message
	msg := h.Message
	proc := string(h.ProcID) // no allocation: used only in comparisons
	platform := string(h.AppName) == "heroku"

	switch {
	case proc == "api":
		if ev.parseAPI(msg) {
			return
		}
	case proc == "log-shuttle":
		if hasPrefix(msg, "Error L") && ev.parseError(msg[len("Error "):]) && ev.Error.Dropped >= 0 {
			return
		}
		ev.Error = Error{}
	case hasPrefix(h.ProcID, "heroku-") && !platform:
		if hasPrefix(msg, "source=") && bytes.Contains(msg, []byte(" addon=")) && ev.parseMetrics(msg) && ev.Kind == KindAddon {
			return
		}
		ev.Samples = ev.Samples[:0]
	}
	if !platform {
		ev.app(h, msg)
		return
	}
	switch {
	case proc == "router":
		if ev.parseRouter(msg) {
			return
		}
	case proc == "api", proc == "logplex":
	case DynoName(h.ProcID):
		ev.Dyno = h.ProcID
		if hasPrefix(msg, "source=") && bytes.Contains(msg, []byte("sample#")) && ev.parseMetrics(msg) {
			return
		}
	default:
		ev.Kind = KindOther // a platform line from no source we know
		return
	}
	ev.parsePlatform(msg)
}

// app makes ev the app's own line, with its l2met tokens.
func (ev *Event) app(h *Header, msg []byte) {
	*ev = Event{Time: ev.Time, AppName: ev.AppName, ProcID: ev.ProcID, Message: ev.Message,
		Samples: ev.Samples[:0], scratch: ev.scratch[:0]}
	ev.Kind = KindApp
	ev.Dyno = h.ProcID
	if bytes.IndexByte(msg, '#') >= 0 {
		ev.parseL2met(msg)
	}
}

// DynoName reports whether p is shaped like a dyno's name: a process type,
// a dot, and a number or id ("web.1", "worker.12", "run.2660").
func DynoName(p []byte) bool {
	dot := bytes.IndexByte(p, '.')
	if dot <= 0 || dot == len(p)-1 {
		return false
	}
	for i, c := range p {
		if i == dot {
			continue
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' && i < dot) {
			return false
		}
	}
	return true
}

func (ev *Event) reset(msgLen int) {
	samples := ev.Samples[:0]
	scratch := ev.scratch[:0]
	*ev = Event{}
	ev.Samples = samples
	if cap(scratch) < msgLen {
		scratch = make([]byte, 0, msgLen)
	}
	ev.scratch = scratch
}

// value returns a logfmt value, unescaped into the event's scratch space when
// it holds escapes.
func (ev *Event) value(p pair) []byte {
	if !p.Escaped {
		return p.Value
	}
	return unescape(&ev.scratch, p.Value)
}

func (ev *Event) parseRouter(msg []byte) bool {
	r := &ev.Router
	r.ConnectMS, r.ServiceMS, r.Status, r.Bytes = -1, -1, -1, -1
	l := logfmt{b: msg}
	seenAt := false
	for {
		p, ok := l.next()
		if !ok {
			break
		}
		v := ev.value(p)
		switch string(p.Key) {
		case "at":
			r.At, seenAt = v, true
		case "sock":
			r.Sock = v
		case "code":
			r.Code = v
		case "desc":
			r.Desc = v
		case "method":
			r.Method = v
		case "path":
			r.Path = v
		case "host":
			r.Host = v
		case "request_id":
			r.RequestID = v
		case "fwd":
			r.Fwd = v
		case "dyno":
			r.Dyno = v
		case "connect":
			r.ConnectMS = millis(v)
		case "service":
			r.ServiceMS = millis(v)
		case "status":
			r.Status = int(integer(v))
		case "bytes":
			r.Bytes = integer(v)
		case "protocol":
			r.Protocol = v
		case "tls":
			r.TLS = v
		case "tls_version":
			r.TLSVersion = v
		}
	}
	if !seenAt {
		ev.Router = Router{}
		return false
	}
	ev.Kind = KindRouter
	ev.Dyno = r.Dyno
	return true
}

// parseMetrics reads runtime-metrics (memory or load) and add-on metrics lines.
func (ev *Event) parseMetrics(msg []byte) bool {
	var source, dynoID, addon []byte
	m := &ev.Memory
	ld := &ev.Load
	m.QuotaMB = -1
	ld.Avg1m, ld.Avg5m, ld.Avg15m = -1, -1, -1
	memory, load := false, false
	l := logfmt{b: msg}
	for {
		p, ok := l.next()
		if !ok {
			break
		}
		key := p.Key
		switch string(key) {
		case "source":
			source = ev.value(p)
			continue
		case "dyno":
			dynoID = p.Value
			continue
		case "addon":
			addon = ev.value(p)
			continue
		}
		if !hasPrefix(key, "sample#") {
			continue
		}
		name := key[len("sample#"):]
		num, unit := splitUnit(p.Value)
		if addon != nil {
			ev.Samples = append(ev.Samples, Sample{Type: Gauge, Name: name, Value: number(num), Unit: unit, Text: p.Value})
			continue
		}
		switch string(name) {
		case "memory_total":
			m.TotalMB, memory = megabytes(num, unit), true
		case "memory_rss":
			m.RSSMB = megabytes(num, unit)
		case "memory_cache":
			m.CacheMB = megabytes(num, unit)
		case "memory_swap":
			m.SwapMB = megabytes(num, unit)
		case "memory_pgpgin":
			m.PgpgIn = integer(num)
		case "memory_pgpgout":
			m.PgpgOut = integer(num)
		case "memory_quota":
			m.QuotaMB = megabytes(num, unit)
		case "load_avg_1m":
			ld.Avg1m, load = number(num), true
		case "load_avg_5m":
			ld.Avg5m, load = number(num), true
		case "load_avg_15m":
			ld.Avg15m, load = number(num), true
		default:
			ev.Samples = append(ev.Samples, Sample{Type: Gauge, Name: name, Value: number(num), Unit: unit, Text: p.Value})
		}
	}
	boot := bootID(dynoID)
	switch {
	case addon != nil:
		ev.Kind = KindAddon
		ev.Addon = Addon{Source: source, Name: addon}
		for i := range ev.Samples {
			ev.Samples[i].Source = source
		}
		ev.Memory, ev.Load = Memory{}, Load{}
		return true
	case memory:
		ev.Kind = KindMemory
		m.Source, m.DynoID, m.Boot = source, dynoID, boot
		ev.Load = Load{}
	case load:
		ev.Kind = KindLoad
		ld.Source, ld.DynoID, ld.Boot = source, dynoID, boot
		ev.Memory = Memory{}
	default:
		ev.Memory, ev.Load = Memory{}, Load{}
		ev.Samples = ev.Samples[:0]
		return false
	}
	ev.Dyno = source
	return true
}

// bootID returns the uuid of "heroku.<app-id>.<uuid>".
func bootID(dynoID []byte) []byte {
	i := bytes.IndexByte(dynoID, '.')
	if i < 0 {
		return nil
	}
	j := bytes.IndexByte(dynoID[i+1:], '.')
	if j < 0 {
		return nil
	}
	return dynoID[i+1+j+1:]
}

func (ev *Event) parseAPI(msg []byte) bool {
	switch {
	case hasPrefix(msg, "Release v"):
		rest := msg[len("Release v"):]
		n := 0
		i := 0
		for ; i < len(rest) && i < 9 && rest[i] >= '0' && rest[i] <= '9'; i++ {
			n = n*10 + int(rest[i]-'0')
		}
		if i == 0 {
			return false
		}
		ev.Kind = KindRelease
		ev.Release = Release{Version: n, By: byUser(rest[i:])}
		return true
	case hasPrefix(msg, "Scaled to "):
		rest := msg[len("Scaled to "):]
		formation := rest
		if i := bytes.Index(rest, []byte(" by ")); i >= 0 {
			formation = rest[:i]
		}
		ev.Kind = KindScale
		ev.Scale = Scale{Formation: formation, By: byUser(rest)}
		return true
	}
	return false
}

// byUser returns what follows " by user " (or " by ") in s.
func byUser(s []byte) []byte {
	if i := bytes.Index(s, []byte(" by user ")); i >= 0 {
		return s[i+len(" by user "):]
	}
	if i := bytes.Index(s, []byte(" by ")); i >= 0 {
		return s[i+len(" by "):]
	}
	return nil
}

// parsePlatform reads a dyno's platform line: errors, memory reports, lifecycle.
func (ev *Event) parsePlatform(msg []byte) {
	switch {
	case hasPrefix(msg, "Error ") && ev.parseError(msg[len("Error "):]):
	case hasPrefix(msg, "Process running mem=") && ev.parseMemReport(msg[len("Process running mem="):]):
	case hasPrefix(msg, "State changed from "):
		rest := msg[len("State changed from "):]
		i := bytes.Index(rest, []byte(" to "))
		if i < 0 {
			ev.Kind = KindOther
			return
		}
		ev.lifecycle(ActionState)
		ev.Lifecycle.From = rest[:i]
		ev.Lifecycle.To = rest[i+len(" to "):]
	case string(msg) == "Cycling":
		ev.lifecycle(ActionCycling)
	case string(msg) == "Restarting":
		ev.lifecycle(ActionRestarting)
	case string(msg) == "Idling":
		ev.lifecycle(ActionIdling)
	case hasPrefix(msg, "Stopping all processes with SIGTERM"):
		ev.lifecycle(ActionSIGTERM)
	case hasPrefix(msg, "Stopping process with SIGKILL"):
		ev.lifecycle(ActionSIGKILL)
	case hasPrefix(msg, "Process exited with status "):
		v := msg[len("Process exited with status "):]
		ev.lifecycle(ActionExited)
		ev.Lifecycle.Status = int(integer(v))
	case hasPrefix(msg, "Starting process with command "):
		ev.lifecycle(ActionStarting)
		cmd := msg[len("Starting process with command "):]
		if len(cmd) >= 2 && cmd[0] == '`' && cmd[len(cmd)-1] == '`' {
			cmd = cmd[1 : len(cmd)-1]
		}
		ev.Lifecycle.Command = cmd
	default:
		ev.Kind = KindOther
	}
}

func (ev *Event) lifecycle(a Action) {
	ev.Kind = KindLifecycle
	ev.Lifecycle = Lifecycle{Action: a, Status: -1}
}

// parseError reads "R14 (Memory quota exceeded)", "R10 (Boot timeout) -> …",
// and the drop notices: logplex's "L10 (output buffer overflow): 5 messages
// dropped since …" and "L11 (Tail buffer overflow) -> This tail session
// dropped 1101 messages since …", log-shuttle's "L12: 2864 messages dropped
// since …" and "L13: 7 messages lost since …".
func (ev *Event) parseError(s []byte) bool {
	code, rest := field(s)
	if n := len(code); n > 0 && code[n-1] == ':' {
		code = code[:n-1]
	}
	if len(code) < 2 || len(code) > 4 || code[0] < 'A' || code[0] > 'Z' {
		return false
	}
	if _, ok := digits(code[1:]); !ok {
		return false
	}
	e := Error{Code: code, Dropped: -1}
	if len(rest) > 0 && rest[0] == '(' {
		if end := bytes.IndexByte(rest, ')'); end > 0 {
			e.Desc = rest[1:end]
			rest = rest[end+1:]
		}
	}
	if i := bytes.Index(rest, []byte("->")); i >= 0 {
		e.Detail = bytes.TrimSpace(rest[i+2:])
	}
	e.Dropped = droppedCount(rest)
	ev.Kind = KindError
	ev.Error = e
	return true
}

// droppedCount finds "N messages dropped", "N messages lost" or "dropped N
// messages" in s; -1 when there is none.
func droppedCount(s []byte) int64 {
	for _, after := range []string{" messages dropped", " messages lost"} {
		if i := bytes.Index(s, []byte(after)); i >= 0 {
			j := i
			for j > 0 && s[j-1] >= '0' && s[j-1] <= '9' {
				j--
			}
			if j < i {
				return integer(s[j:i])
			}
		}
	}
	if i := bytes.Index(s, []byte("dropped ")); i >= 0 {
		n, _ := field(s[i+len("dropped "):])
		if v := integer(n); v >= 0 && bytes.HasPrefix(s[i+len("dropped ")+len(n):], []byte(" messages")) {
			return v
		}
	}
	return -1
}

// parseMemReport reads "680M(133.0%)" or "1028MB(103.3%)".
func (ev *Event) parseMemReport(s []byte) bool {
	open := bytes.IndexByte(s, '(')
	if open < 0 {
		return false
	}
	mb := megabytes(splitUnit(s[:open]))
	pct := s[open+1:]
	if i := bytes.IndexByte(pct, '%'); i >= 0 {
		pct = pct[:i]
	} else {
		return false
	}
	p := number(pct)
	if math.IsNaN(mb) || math.IsNaN(p) {
		return false
	}
	ev.Kind = KindMemReport
	ev.MemReport = MemReport{MB: mb, Percent: p}
	return true
}

// parseL2met collects measure#, count#, sample# and unique# tokens of an app line.
func (ev *Event) parseL2met(msg []byte) {
	var source []byte
	l := logfmt{b: msg}
	first := len(ev.Samples)
	for {
		p, ok := l.next()
		if !ok {
			break
		}
		k := p.Key
		var t SampleType
		switch {
		case string(k) == "source":
			source = ev.value(p)
			continue
		case hasPrefix(k, "measure#"):
			t, k = Measure, k[len("measure#"):]
		case hasPrefix(k, "count#"):
			t, k = Count, k[len("count#"):]
		case hasPrefix(k, "sample#"):
			t, k = Gauge, k[len("sample#"):]
		case hasPrefix(k, "unique#"):
			t, k = Unique, k[len("unique#"):]
		default:
			continue
		}
		if len(k) == 0 || (p.Value == nil && t != Count) {
			continue
		}
		v := ev.value(p)
		s := Sample{Type: t, Name: k, Text: v, Value: math.NaN()}
		if t != Unique {
			num, unit := splitUnit(v)
			s.Value, s.Unit = number(num), unit
			if t == Count && len(v) == 0 {
				s.Value = 1
			}
		}
		ev.Samples = append(ev.Samples, s)
	}
	for i := first; i < len(ev.Samples); i++ {
		ev.Samples[i].Source = source
	}
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// splitUnit splits "180.43MB" into "180.43" and "MB".
func splitUnit(v []byte) (num, unit []byte) {
	i := 0
	if i < len(v) && (v[i] == '-' || v[i] == '+') {
		i++
	}
	for i < len(v) && (v[i] >= '0' && v[i] <= '9' || v[i] == '.') {
		i++
	}
	// An exponent: e, optional sign, digits.
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		j := i + 1
		if j < len(v) && (v[j] == '-' || v[j] == '+') {
			j++
		}
		if j < len(v) && v[j] >= '0' && v[j] <= '9' {
			for j < len(v) && v[j] >= '0' && v[j] <= '9' {
				j++
			}
			i = j
		}
	}
	return v[:i], v[i:]
}

// number parses a float; NaN when b is not one. string(b) in the call does
// not allocate: strconv clones what it keeps.
func number(b []byte) float64 {
	if len(b) == 0 {
		return math.NaN()
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

// integer parses a non-negative decimal integer; -1 when b is empty or not one.
func integer(b []byte) int64 {
	if len(b) == 0 || len(b) > 18 {
		return -1
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// millis parses "18ms" (or "1.5ms", rounded); -1 when empty or malformed.
func millis(v []byte) int64 {
	num, unit := splitUnit(v)
	if len(unit) > 0 && string(unit) != "ms" {
		return -1
	}
	if n := integer(num); n >= 0 {
		return n
	}
	f := number(num)
	if math.IsNaN(f) || f < 0 || f > 1e15 {
		return -1
	}
	return int64(math.Round(f))
}

// megabytes converts a value with a unit (MB, GB, kB, B, M, or none = MB) to
// MB; NaN when it is not a number.
func megabytes(num, unit []byte) float64 {
	f := number(num)
	switch string(unit) {
	case "", "MB", "M", "mb":
		return f
	case "GB", "G", "gb":
		return f * 1024
	case "kB", "KB", "K", "kb":
		return f / 1024
	case "B", "bytes":
		return f / (1024 * 1024)
	}
	return math.NaN()
}
