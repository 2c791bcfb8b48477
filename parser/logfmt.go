package parser

// logfmt iterates over the key=value pairs of a logfmt line without
// allocating. Values may be bare (up to the next space) or double-quoted with
// backslash escapes; a word without '=' is a key with a nil value.
type logfmt struct {
	b []byte
	i int
}

// pair is one key=value of a logfmt line. Value is the raw text between the
// quotes when the value was quoted; Escaped says it holds backslash escapes.
type pair struct {
	Key, Value []byte
	Quoted     bool
	Escaped    bool
}

func (l *logfmt) next() (p pair, ok bool) {
	b := l.b
	i := l.i
	for i < len(b) && b[i] == ' ' {
		i++
	}
	if i >= len(b) {
		l.i = i
		return p, false
	}
	start := i
	for i < len(b) && b[i] != '=' && b[i] != ' ' {
		i++
	}
	p.Key = b[start:i]
	if i >= len(b) || b[i] == ' ' {
		l.i = i
		return p, true
	}
	i++ // '='
	if i < len(b) && b[i] == '"' {
		i++
		vs := i
		for i < len(b) && b[i] != '"' {
			if b[i] == '\\' && i+1 < len(b) {
				p.Escaped = true
				i++
			}
			i++
		}
		p.Value = b[vs:i]
		p.Quoted = true
		if i < len(b) {
			i++ // closing quote
		}
		l.i = i
		return p, true
	}
	vs := i
	for i < len(b) && b[i] != ' ' {
		i++
	}
	p.Value = b[vs:i]
	l.i = i
	return p, true
}

// unescape writes v without its backslash escapes into dst's spare capacity
// and returns that view. dst must have room for len(v) more bytes, so that
// earlier views into dst stay valid.
func unescape(dst *[]byte, v []byte) []byte {
	d := *dst
	start := len(d)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			i++
			switch v[i] {
			case 'n':
				c = '\n'
			case 't':
				c = '\t'
			default:
				c = v[i]
			}
		}
		d = append(d, c)
	}
	*dst = d
	return d[start:len(d):len(d)]
}
