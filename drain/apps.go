package drain

import (
	"log/slog"
	"sync"
	"sync/atomic"
)

// AppLimit bounds how many apps one daemon takes lines for. An app it
// knows is taken; a new one is taken while there is room, and beyond that
// its lines are dropped: the drain answers 2xx all the same (logplex drops
// a batch answered 4xx without telling anyone, and would retry a 5xx for
// ever), and the first batch of each dropped app is logged. It is safe for
// concurrent use.
type AppLimit struct {
	max int
	log *slog.Logger

	mu      sync.RWMutex
	apps    map[string]struct{}
	dropped map[string]struct{} // logged already (at most maxDroppedNames)

	// DroppedApps counts the apps whose lines were dropped, each once
	// (exact up to maxDroppedNames names; past them an app may count
	// again); DroppedBatches counts the requests and syslog batches
	// dropped, DroppedLines their lines (a request's Logplex-Msg-Count).
	DroppedApps, DroppedBatches, DroppedLines atomic.Int64
}

// maxDroppedNames bounds the names of dropped apps remembered (to log each
// once): past it, the set starts again.
const maxDroppedNames = 10000

// NewAppLimit returns a limit of max apps, counting known (the apps the
// database holds already) among them, even beyond max.
func NewAppLimit(max int, known []string, log *slog.Logger) *AppLimit {
	if log == nil {
		log = slog.Default()
	}
	a := &AppLimit{max: max, log: log, apps: map[string]struct{}{}, dropped: map[string]struct{}{}}
	for _, app := range known {
		a.apps[app] = struct{}{}
	}
	return a
}

// Max is the limit.
func (a *AppLimit) Max() int { return a.max }

// Allow reports whether lines of app are taken, taking a new app while
// there is room. A refusal is counted (lines: how many are dropped) and,
// the first time for an app, logged.
func (a *AppLimit) Allow(app string, lines int) bool {
	a.mu.RLock()
	_, ok := a.apps[app]
	a.mu.RUnlock()
	if ok {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.apps[app]; ok {
		return true
	}
	if len(a.apps) < a.max {
		a.apps[app] = struct{}{}
		a.log.Info("new app", "app", app, "apps", len(a.apps), "max_apps", a.max)
		return true
	}
	a.DroppedBatches.Add(1)
	a.DroppedLines.Add(int64(lines))
	if _, logged := a.dropped[app]; !logged {
		if len(a.dropped) >= maxDroppedNames {
			clear(a.dropped)
		}
		a.dropped[app] = struct{}{}
		a.DroppedApps.Add(1)
		a.log.Warn("lines of a new app dropped: this daemon takes lines for MAX_APPS apps; answered 200 so that logplex goes on (raise MAX_APPS to take it)",
			"app", app, "max_apps", a.max)
	}
	return false
}
