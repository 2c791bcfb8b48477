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
// the Events already there and their buffers, and returns the slice.
func ParseBody(body []byte, maxFrame int, events []Event) ([]Event, BodyStats) {
	var st BodyStats
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
		if err := ParseFrame(fr, &events[len(events)-1]); err != nil {
			events = events[:len(events)-1]
			st.BadHeaders++
			if st.FirstError == nil {
				st.FirstError = &FrameError{Offset: f.off - len(fr), Err: err}
			}
			continue
		}
		st.Parsed++
	}
	return events, st
}

// grow extends events by one, reusing the spare element's buffers.
func grow(events []Event) []Event {
	if len(events) < cap(events) {
		return events[:len(events)+1]
	}
	return append(events, Event{})
}
