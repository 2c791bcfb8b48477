package alerts

import (
	"fmt"
	"time"
)

// RuleDrops fires when a drain drops lines: logplex's L10 (its buffer for
// the drain overflowed: drainwatch answered too slowly, or the app logs more
// than a drain can take) and log-shuttle's L12/L13 (dropped or lost before
// they were sent). The episode is the app's, not a dyno's (Dyno is empty).
const RuleDrops Rule = "drops"

// dropWindow is how far back a drop alert counts, and how long without a
// drop notice before it resolves.
const dropWindow = time.Hour

// Drops is the drop-notice rule. It keeps, per app, the drop notices of the
// last hour and the open episode. Like Engine it goes by log time and is
// deterministic; it is not safe for concurrent use.
type Drops struct {
	apps map[string]*dropState
}

type dropState struct {
	notices []dropNotice // within dropWindow of the newest
	open    *Alert
	total   int64 // lines dropped during the open episode
	last    time.Time
}

type dropNotice struct {
	t    time.Time
	n    int64
	code string
}

// NewDrops returns the rule with no history.
func NewDrops() *Drops { return &Drops{apps: map[string]*dropState{}} }

// Restore reopens the drop episodes that were firing before a restart.
func (d *Drops) Restore(open []Alert) {
	for _, a := range open {
		if a.Rule != RuleDrops || a.State != Firing {
			continue
		}
		a := a
		d.apps[a.App] = &dropState{open: &a, last: a.Time}
	}
}

// Observe takes any observation: a drop notice (ObsDrops) opens an episode
// or extends it; any line of the app, an hour after its last drop notice,
// resolves it.
func (d *Drops) Observe(o Observation) []Alert {
	s := d.apps[o.App]
	if o.Kind != ObsDrops {
		if s != nil && s.open != nil && o.Time.Sub(s.last) >= dropWindow {
			a := *s.open
			a.State, a.Time = Resolved, o.Time
			a.Reason = fmt.Sprintf("no lines dropped for %s", FormatDuration(dropWindow))
			a.Summary = fmt.Sprintf("Resolved: %s, drops, after %s: %s (%s lines dropped in all)", o.App,
				FormatDuration(o.Time.Sub(a.Started)), a.Reason, thousands(s.total))
			delete(d.apps, o.App)
			return []Alert{a}
		}
		return nil
	}
	if s == nil {
		s = &dropState{}
		d.apps[o.App] = s
	}
	if o.Time.After(s.last) {
		s.last = o.Time
	}
	s.notices = append(s.notices, dropNotice{t: o.Time, n: int64(o.N), code: o.Code})
	var hour int64
	kept := s.notices[:0]
	for _, n := range s.notices {
		if s.last.Sub(n.t) < dropWindow {
			kept = append(kept, n)
			hour += n.n
		}
	}
	s.notices = kept
	s.total += int64(o.N)
	if s.open != nil {
		return nil
	}
	who := "logplex"
	if o.Code == "L12" || o.Code == "L13" {
		who = "log-shuttle"
	}
	a := Alert{App: o.App, Rule: RuleDrops, State: Firing, Time: o.Time, Started: o.Time, Codes: []string{o.Code},
		Summary: fmt.Sprintf("%s dropped %s lines for %s in the last hour: drainwatch answers too slowly, or the app logs more than the drain can take",
			who, thousands(hour), o.App)}
	s.open = &a
	return []Alert{a}
}

// thousands writes n with commas: 2864 → "2,864".
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
