package web

import (
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// throttle slows down repeated failed sign-ins, per client and overall:
// each failure takes a token from the client's bucket and from the global
// one; a sign-in attempt with an empty bucket is refused (429) before the
// token is even compared, so guessing costs time whatever the guess.
// Buckets refill at a steady rate, so a person who mistyped waits seconds,
// a script guessing thousands of tokens waits days.
type throttle struct {
	mu      sync.Mutex
	clients map[string]*bucket
	all     bucket
	// per client: burst failures, then one every perEvery; overall: the same
	// with allBurst and allEvery.
	burst, allBurst    float64
	perEvery, allEvery time.Duration
	maxClients         int
}

type bucket struct {
	tokens float64
	at     time.Time
	warned time.Time // last "throttled" log line, so a flood logs a line a minute
}

func newThrottle() *throttle {
	return &throttle{clients: map[string]*bucket{}, burst: 5, perEvery: 10 * time.Second,
		allBurst: 50, allEvery: time.Second, maxClients: 10000}
}

// refill brings b up to now at one token every every, at most max.
func (b *bucket) refill(now time.Time, max float64, every time.Duration) {
	if b.at.IsZero() {
		b.tokens, b.at = max, now
		return
	}
	b.tokens = math.Min(max, b.tokens+float64(now.Sub(b.at))/float64(every))
	b.at = now
}

// allow reports whether client may try a sign-in now, and if not, how long
// until it may.
func (t *throttle) allow(client string, now time.Time) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.all.refill(now, t.allBurst, t.allEvery)
	b := t.clients[client]
	if b != nil {
		b.refill(now, t.burst, t.perEvery)
	}
	switch {
	case b != nil && b.tokens < 1:
		return false, time.Duration((1 - b.tokens) * float64(t.perEvery))
	case t.all.tokens < 1:
		return false, time.Duration((1 - t.all.tokens) * float64(t.allEvery))
	}
	return true, 0
}

// fail counts a failed sign-in of client; it returns the failures the
// client has left before it is slowed down.
func (t *throttle) fail(client string, now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.clients[client]
	if b == nil {
		if len(t.clients) >= t.maxClients {
			t.prune(now)
		}
		b = &bucket{}
		t.clients[client] = b
	}
	b.refill(now, t.burst, t.perEvery)
	b.tokens--
	t.all.refill(now, t.allBurst, t.allEvery)
	t.all.tokens--
	return int(math.Max(0, math.Floor(b.tokens)))
}

// warn reports whether a "throttled" line should be logged for client now.
func (t *throttle) warn(client string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.clients[client]
	if b == nil {
		b = &t.all
	}
	if now.Sub(b.warned) < time.Minute {
		return false
	}
	b.warned = now
	return true
}

// prune forgets the clients whose buckets are full again, and if that is
// not enough, all of them (the global bucket still holds).
func (t *throttle) prune(now time.Time) {
	for k, b := range t.clients {
		b.refill(now, t.burst, t.perEvery)
		if b.tokens >= t.burst {
			delete(t.clients, k)
		}
	}
	if len(t.clients) >= t.maxClients {
		clear(t.clients)
	}
}

// clientOf names the client of r: the address the Heroku router saw (the
// last X-Forwarded-For entry, which the router appends), else the peer.
func clientOf(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		parts := strings.Split(xff, ",")
		if c := strings.TrimSpace(parts[len(parts)-1]); c != "" {
			return c
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
