package parser

// BodyStats says what ParseBody found in a body.
type BodyStats struct {
	Frames     int   // frames found, good or bad
	Parsed     int   // lines parsed into events
	BadFrames  int   // frames whose octet count was broken or too large
	BadHeaders int   // frames whose syslog header could not be read
	FirstError error // the first problem, for a log line or a 400 reason
}

// Skipped returns how many frames were skipped.
func (s BodyStats) Skipped() int { return s.BadFrames + s.BadHeaders }

// ParseBody frames an octet-counted logplex body and parses every frame,
// skipping (and counting) malformed ones. It appends to events[:0], reusing
// the Events already there and their buffers, and returns the slice. Each
// frame says whether it has a STRUCTURED-DATA field (DialectAuto).
func ParseBody(body []byte, maxFrame int, events []Event) ([]Event, BodyStats) {
	return ParseBodyAs(body, maxFrame, events, DialectAuto)
}

// ParseBodyAs is ParseBody with the frames read in dialect d.
//
// With DialectAuto, one body is taken to come from one client, written one
// way: when some of its RFC 5424 frames have a STRUCTURED-DATA field and
// others have none (log-shuttle with -msgid '-' writes none, and its lines
// that begin with "- " or "[x]" would look like one), the body is read
// again without the field, so that those lines keep their text.
func ParseBodyAs(body []byte, maxFrame int, events []Event, d Dialect) ([]Event, BodyStats) {
	events, st, sd, noSD := parseBody(body, maxFrame, events, d)
	if d != DialectLogplex && sd > 0 && noSD > 0 {
		events, st, _, _ = parseBody(body, maxFrame, events, DialectLogplex)
	}
	return events, st
}

// parseBody is ParseBodyAs in one pass; it also counts the frames read with
// and without a STRUCTURED-DATA field among those that may have one.
func parseBody(body []byte, maxFrame int, events []Event, d Dialect) (_ []Event, st BodyStats, sd, noSD int) {
	events = events[:0]
	f := NewFramer(body, maxFrame)
	for !f.Done() {
		fr, err := f.Next()
		if err != nil {
			st.Frames++
			st.BadFrames++
			if st.FirstError == nil {
				st.FirstError = err
			}
			continue
		}
		if fr == nil {
			break
		}
		st.Frames++
		events = grow(events)
		h, err := ParseHeaderAs(fr, d)
		if err != nil {
			events = events[:len(events)-1]
			st.BadHeaders++
			if st.FirstError == nil {
				st.FirstError = &FrameError{Offset: f.off - len(fr), Err: err}
			}
			continue
		}
		if h.HasStructuredData {
			sd++
		} else if d == DialectRFC5424 || d == DialectAuto && string(h.Host) != "host" {
			noSD++
		}
		Parse(&h, &events[len(events)-1])
		st.Parsed++
	}
	return events, st, sd, noSD
}

// grow extends events by one, reusing the spare element's buffers.
func grow(events []Event) []Event {
	if len(events) < cap(events) {
		return events[:len(events)+1]
	}
	return append(events, Event{})
}
