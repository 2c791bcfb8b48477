package parser

import (
	"errors"
	"time"
)

// Header errors.
var (
	ErrBadPriority  = errors.New("bad PRI")
	ErrBadVersion   = errors.New("bad syslog version")
	ErrBadTimestamp = errors.New("bad timestamp")
	ErrShortHeader  = errors.New("header ends before the message")
)

// Header is the syslog header of a frame:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [STRUCTURED-DATA] MSG
//
// Logplex HTTPS frames have no STRUCTURED-DATA field: the message follows MSGID
// directly. Real RFC 5424 clients (log-shuttle, syslog drains) put one there:
// a NILVALUE "-" or elements such as [meta sequenceId="1"]. Which of the two a
// frame is, is decided by the frame (see Dialect). Byte fields are views into
// the frame.
type Header struct {
	Priority uint8
	Version  uint8
	Time     time.Time // in UTC
	Host     []byte    // "host" on HTTPS drains, the drain token on syslog drains
	AppName  []byte    // "heroku" for platform lines, "app" for the app's own
	ProcID   []byte    // "router", "web.1", "api", "logplex", …
	MsgID    []byte    // "-"
	// StructuredData is the frame's SD elements (`[meta sequenceId="1"]`),
	// empty for a NILVALUE or a logplex frame.
	StructuredData []byte
	// HasStructuredData says a STRUCTURED-DATA field was found and split off.
	HasStructuredData bool
	Message           []byte // the text, without its trailing newline
}

// Dialect says whether frames carry RFC 5424's STRUCTURED-DATA field
// between MSGID and the message.
type Dialect uint8

// Dialects.
const (
	// DialectAuto decides by the frame: HOSTNAME "host" is what logplex
	// writes on every HTTPS drain frame, which has no STRUCTURED-DATA field,
	// so the message follows MSGID whatever it begins with. Any other
	// HOSTNAME is an RFC 5424 client's (log-shuttle's "shuttle" or the
	// hostname it was given, a syslog drain's token): DialectRFC5424.
	DialectAuto Dialect = iota
	// DialectLogplex: never a STRUCTURED-DATA field.
	DialectLogplex
	// DialectRFC5424: a STRUCTURED-DATA field follows MSGID; a NILVALUE or
	// well-formed elements are skipped. Text that is neither is kept as the
	// message, as a lenient reader should.
	DialectRFC5424
)

// ParseHeader reads the syslog header of one frame (as returned by
// Framer.Next), deciding by the frame whether it has a STRUCTURED-DATA field
// (DialectAuto).
func ParseHeader(frame []byte) (Header, error) { return ParseHeaderAs(frame, DialectAuto) }

// ParseHeaderAs reads the syslog header of one frame in the given dialect.
func ParseHeaderAs(frame []byte, d Dialect) (Header, error) {
	var h Header
	b := frame
	if len(b) < 3 || b[0] != '<' {
		return h, ErrBadPriority
	}
	pri, i := 0, 1
	for ; i < len(b) && i < 5 && b[i] >= '0' && b[i] <= '9'; i++ {
		pri = pri*10 + int(b[i]-'0')
	}
	// No leading zeros (RFC 5424 6.2.1): heroku/x's Decode reads "<010>" as
	// octal 8, so rather than guess, refuse it.
	if i == 1 || i >= len(b) || b[i] != '>' || pri > 191 || (b[1] == '0' && i > 2) {
		return h, ErrBadPriority
	}
	h.Priority = uint8(pri)
	i++
	if i+1 >= len(b) || b[i] < '1' || b[i] > '9' || b[i+1] != ' ' {
		return h, ErrBadVersion
	}
	h.Version = b[i] - '0'
	b = b[i+2:]

	var ts []byte
	ts, b = field(b)
	if b == nil {
		return h, ErrShortHeader
	}
	t, ok := ParseTime(ts)
	if !ok {
		return h, ErrBadTimestamp
	}
	h.Time = t
	if h.Host, b = field(b); b == nil {
		return h, ErrShortHeader
	}
	if h.AppName, b = field(b); b == nil {
		return h, ErrShortHeader
	}
	if h.ProcID, b = field(b); b == nil {
		return h, ErrShortHeader
	}
	if h.MsgID, b = field(b); b == nil {
		return h, ErrShortHeader
	}
	h.Message = trimEOL(b)
	if d == DialectRFC5424 || d == DialectAuto && string(h.Host) != "host" {
		h.StructuredData, h.Message, h.HasStructuredData = SplitStructuredData(h.Message)
	}
	return h, nil
}

// SplitStructuredData splits the STRUCTURED-DATA field off the front of b,
// the rest of an RFC 5424 frame after MSGID: a NILVALUE ("-") or one or more
// elements (`[id k="v"][id2]`), then a space and the message. It returns
// the elements (empty for a NILVALUE), the message, and ok. When b does not
// begin with a well-formed field, nothing is split off: msg is b, ok false.
func SplitStructuredData(b []byte) (sd, msg []byte, ok bool) {
	if len(b) == 0 {
		return nil, b, false
	}
	end := 0
	if b[0] == '-' {
		end = 1
	} else {
		for end < len(b) && b[end] == '[' {
			n := sdElement(b[end:])
			if n == 0 {
				return nil, b, false
			}
			end += n
		}
		if end == 0 {
			return nil, b, false
		}
		sd = b[:end]
	}
	switch {
	case end == len(b):
		return sd, b[end:], true
	case b[end] == ' ':
		return sd, b[end+1:], true
	}
	return nil, b, false // "-x", "[a]x": not a field of its own
}

// sdElement returns the length of the SD-ELEMENT at the start of b
// ("[" SD-ID *(SP PARAM-NAME "=" DQUOTE PARAM-VALUE DQUOTE) "]"), or 0 when
// there is none. Inside a value, a backslash escapes `"`, `\` and `]`.
func sdElement(b []byte) int {
	i := 1 // the '['
	n := sdName(b[i:])
	if n == 0 {
		return 0
	}
	i += n
	for {
		if i >= len(b) {
			return 0
		}
		switch b[i] {
		case ']':
			return i + 1
		case ' ':
		default:
			return 0
		}
		i++
		n := sdName(b[i:])
		if n == 0 || i+n+1 >= len(b) || b[i+n] != '=' || b[i+n+1] != '"' {
			return 0
		}
		i += n + 2
		for {
			if i >= len(b) {
				return 0
			}
			c := b[i]
			if c == '\\' && i+1 < len(b) && (b[i+1] == '"' || b[i+1] == '\\' || b[i+1] == ']') {
				i += 2
				continue
			}
			i++
			if c == '"' {
				break
			}
			if c == ']' {
				return 0 // must be escaped
			}
		}
	}
}

// sdName returns the length of the SD-NAME at the start of b: 1 to 32
// printable US-ASCII characters other than '=', ' ', ']' and '"'.
func sdName(b []byte) int {
	i := 0
	for i < len(b) && i < 33 {
		c := b[i]
		if c < 33 || c > 126 || c == '=' || c == ']' || c == '"' {
			break
		}
		i++
	}
	if i > 32 {
		return 0
	}
	return i
}

// field splits b at its first space: the text before it, and the rest after
// it. rest is nil when there is no space.
func field(b []byte) (f, rest []byte) {
	for i, c := range b {
		if c == ' ' {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}

// trimEOL removes one trailing "\n" or "\r\n".
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// ParseTime parses an RFC 3339 timestamp as syslog and Heroku write it
// ("2017-10-19T09:58:58.775050+00:00", "…Z"), with 0 to 9 fractional digits,
// and returns it in UTC. It allocates nothing (time.Parse on a []byte must copy
// it to a string, and a non-UTC offset makes a new *time.Location).
func ParseTime(b []byte) (time.Time, bool) {
	// 2006-01-02T15:04:05 is 19 bytes; then [.frac] and Z or ±hh:mm.
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest := b[19:]
	nsec := 0
	if rest[0] == '.' {
		j := 1
		scale := 100000000
		for ; j < len(rest) && rest[j] >= '0' && rest[j] <= '9'; j++ {
			if j > 9 {
				return time.Time{}, false
			}
			nsec += int(rest[j]-'0') * scale
			scale /= 10
		}
		if j == 1 {
			return time.Time{}, false
		}
		rest = rest[j:]
	}
	offset := 0
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
