package parser

import "time"

// Kind says which of Event's parts is filled in.
type Kind uint8

// The kinds of events. Every line becomes exactly one event.
const (
	KindOther     Kind = iota // a platform line of no known shape; Message only
	KindRouter                // heroku router: Router
	KindMemory                // runtime metrics, memory: Memory
	KindLoad                  // runtime metrics, load averages: Load
	KindError                 // R10, R12, R14, R15, L10 and other coded platform errors: Error
	KindMemReport             // "Process running mem=680M(133.0%)": MemReport
	KindLifecycle             // dyno state changes, restarts, signals, exits: Lifecycle
	KindRelease               // "Release v9 created by …" from the api process: Release
	KindScale                 // "Scaled to web@4:Standard-1X by …": Scale
	KindAddon                 // add-on metrics (source=DATABASE addon=…): Addon, Samples
	KindApp                   // the app's own output; l2met tokens in Samples
)

var kindNames = [...]string{"other", "router", "memory", "load", "error", "mem_report", "lifecycle", "release", "scale", "addon", "app"}

// String returns the kind's name as stored and printed ("router", "memory", …).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Event is one parsed log line. Byte-slice fields are views into the parsed
// input (or into the event's own scratch space, for unescaped values): copy
// what must outlive the input. Numeric fields that the line left empty are -1.
//
// An Event may be reused: Parse resets it, keeping its buffers.
type Event struct {
	Kind    Kind
	Time    time.Time // syslog timestamp, UTC
	AppName []byte    // syslog APP-NAME: "heroku" or "app" (or an add-on's name)
	ProcID  []byte    // syslog PROCID: "router", "web.1", "api", …
	Dyno    []byte    // the dyno the event is about ("web.1"); for router lines, the dyno that served it; may be empty
	Message []byte    // the whole message text

	Router    Router
	Memory    Memory
	Load      Load
	Error     Error
	MemReport MemReport
	Lifecycle Lifecycle
	Release   Release
	Scale     Scale
	Addon     Addon
	Samples   []Sample // l2met measure#/count#/sample#/unique# tokens, add-on samples

	scratch []byte // unescaped values
}

// Router is a Heroku router line.
type Router struct {
	Sock       []byte // "client" or "backend" on some errors, else empty
	At         []byte // "info", "warning", "error"
	Code       []byte // "H12", … on errors
	Desc       []byte
	Method     []byte
	Path       []byte
	Host       []byte
	RequestID  []byte
	Fwd        []byte // one or more comma-separated addresses
	Dyno       []byte
	ConnectMS  int64 // -1 when empty
	ServiceMS  int64 // -1 when empty
	Status     int   // -1 when empty
	Bytes      int64 // -1 when empty
	Protocol   []byte
	TLS        []byte // Router 2.0: "true"/"false"
	TLSVersion []byte
}

// Memory is a runtime-metrics memory sample, in MB (pages for pgpgin/out).
type Memory struct {
	Source  []byte // "web.1"
	DynoID  []byte // "heroku.<app-id>.<uuid>"
	Boot    []byte // the uuid of DynoID: it changes when the dyno restarts
	TotalMB float64
	RSSMB   float64
	CacheMB float64
	SwapMB  float64
	PgpgIn  int64
	PgpgOut int64
	QuotaMB float64 // -1 on lines from before memory_quota existed
}

// Load is a runtime-metrics load-average sample; missing averages are -1.
type Load struct {
	Source []byte
	DynoID []byte
	Boot   []byte
	Avg1m  float64
	Avg5m  float64
	Avg15m float64
}

// Error is a coded platform error: R10, R12, R14, R15, L10, …
type Error struct {
	Code    []byte // "R14"
	Desc    []byte // "Memory quota exceeded"
	Detail  []byte // text after "->", if any
	Dropped int64  // L10: messages dropped; else -1
}

// MemReport is "Process running mem=680M(133.0%)", which comes with R14/R15.
type MemReport struct {
	MB      float64
	Percent float64
}

// Action is what a lifecycle line says happened.
type Action uint8

// Lifecycle actions.
const (
	ActionState      Action = iota + 1 // State changed from From to To
	ActionCycling                      // daily restart
	ActionRestarting                   // restart on request
	ActionIdling                       // eco dyno sleeping
	ActionSIGTERM                      // Stopping all processes with SIGTERM
	ActionSIGKILL                      // Stopping process with SIGKILL
	ActionExited                       // Process exited with status N
	ActionStarting                     // Starting process with command …
)

var actionNames = [...]string{"", "state", "cycling", "restarting", "idling", "sigterm", "sigkill", "exited", "starting"}

// String returns the action's name as stored ("state", "sigkill", …).
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// Lifecycle is a dyno lifecycle line.
type Lifecycle struct {
	Action  Action
	From    []byte // ActionState
	To      []byte // ActionState; "crashed" for a crash
	Status  int    // ActionExited; else -1
	Command []byte // ActionStarting
}

// Crashed reports whether the line says the dyno crashed.
func (l *Lifecycle) Crashed() bool { return l.Action == ActionState && string(l.To) == "crashed" }

// Release is "Release v9 created by user someone@example.com" (or any other
// api line that starts with "Release v").
type Release struct {
	Version int
	By      []byte
}

// Scale is "Scaled to web@4:Standard-1X worker@1:Standard-1X by user …".
type Scale struct {
	Formation []byte // "web@4:Standard-1X worker@1:Standard-1X"
	By        []byte
}

// Addon names the add-on of KindAddon samples.
type Addon struct {
	Source []byte // "DATABASE"
	Name   []byte // "postgresql-curly-12345"
}

// SampleType is the l2met prefix of a sample.
type SampleType uint8

// l2met measurement kinds.
const (
	Measure SampleType = iota + 1 // measure#name=value
	Count                         // count#name=value
	Gauge                         // sample#name=value
	Unique                        // unique#name=value (value kept in Text)
)

var sampleTypeNames = [...]string{"", "measure", "count", "sample", "unique"}

// String returns the l2met prefix ("measure", "count", "sample", "unique").
func (t SampleType) String() string {
	if int(t) < len(sampleTypeNames) {
		return sampleTypeNames[t]
	}
	return "unknown"
}

// Sample is one l2met token: name, numeric value and unit ("4ms" → 4, "ms").
type Sample struct {
	Type   SampleType
	Source []byte // the line's source= key, if any
	Name   []byte
	Value  float64 // NaN for unique# and values that are not numbers
	Unit   []byte
	Text   []byte // the raw value
}
