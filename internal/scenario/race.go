//go:build race

package scenario

// Race reports whether the race detector is on: a replay of a history
// through the daemon costs several times more under it, and callers may size
// their runs by it.
const Race = true
