package drain

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ConnCap caps a listener's open connections so that idle ones can never
// starve new ones. At the cap, accepting a connection closes the one idle
// the longest to make room: an HTTP connection between requests (keep-alive)
// or before its first request's headers are in, a syslog connection by its
// last byte received. Only when every connection is busy with a request
// does a new one wait for a place.
//
// The HTTP server reports its connections' states with HTTPState
// (http.Server.ConnState); a stream's reader reports what it receives with
// Touch and its end with Forget.
type ConnCap struct {
	net.Listener
	max int

	mu     sync.Mutex
	cond   *sync.Cond
	conns  map[net.Conn]*connEntry
	closed bool

	// Evicted counts idle connections closed to make room; Waited counts
	// connections that waited because every place was busy.
	Evicted, Waited atomic.Int64
}

type connEntry struct {
	busy  bool
	since int64 // monotonic nanoseconds: idle since, or last byte received
}

// epoch gives connEntry.since a monotonic clock.
var epoch = time.Now()

func mono() int64 { return int64(time.Since(epoch)) }

// NewConnCap caps ln at max open connections.
func NewConnCap(ln net.Listener, max int) *ConnCap {
	if max < 1 {
		max = 1
	}
	l := &ConnCap{Listener: ln, max: max, conns: make(map[net.Conn]*connEntry, max)}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// Accept accepts a connection and makes room for it: it closes the
// connection idle the longest when the cap is reached, or waits while every
// connection is busy.
func (l *ConnCap) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	var victims []net.Conn
	l.mu.Lock()
	waited := false
	for len(l.conns) >= l.max && !l.closed {
		if v := l.oldestIdle(); v != nil {
			delete(l.conns, v)
			victims = append(victims, v)
			continue
		}
		if !waited {
			waited = true
			l.Waited.Add(1)
		}
		l.cond.Wait()
	}
	closed := l.closed
	if !closed {
		l.conns[c] = &connEntry{since: mono()}
	}
	l.mu.Unlock()
	for _, v := range victims {
		l.Evicted.Add(1)
		closeNow(v)
	}
	if closed {
		c.Close()
		return nil, net.ErrClosed
	}
	return c, nil
}

// oldestIdle returns the connection idle the longest, or nil when every one
// is busy. A scan: the cap is a few thousand at most, and it runs only at
// the cap.
func (l *ConnCap) oldestIdle() net.Conn {
	var oldest net.Conn
	var since int64
	for c, e := range l.conns {
		if !e.busy && (oldest == nil || e.since < since) {
			oldest, since = c, e.since
		}
	}
	return oldest
}

// closeNow closes c without a TLS close_notify, which could wait on a peer
// that does not read.
func closeNow(c net.Conn) {
	if t, ok := c.(*tls.Conn); ok {
		t.NetConn().Close()
		return
	}
	c.Close()
}

// Close stops accepting and releases an Accept waiting for a place.
func (l *ConnCap) Close() error {
	l.mu.Lock()
	l.closed = true
	l.cond.Broadcast()
	l.mu.Unlock()
	return l.Listener.Close()
}

// Counts returns how many connections are open, and how many of them are
// busy with a request.
func (l *ConnCap) Counts() (open, busy int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.conns {
		if e.busy {
			busy++
		}
	}
	return len(l.conns), busy
}

// HTTPState follows an HTTP server's connections (http.Server.ConnState):
// a connection is busy from a request's headers to its answer, idle before
// and between requests.
func (l *ConnCap) HTTPState(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew, http.StateIdle:
		l.set(c, false)
	case http.StateActive:
		l.set(c, true)
	case http.StateHijacked, http.StateClosed:
		l.Forget(c)
	}
}

// Touch records that c received data now: the connection idle the longest
// is the one whose last byte is oldest.
func (l *ConnCap) Touch(c net.Conn) { l.set(c, false) }

func (l *ConnCap) set(c net.Conn, busy bool) {
	l.mu.Lock()
	if e := l.conns[c]; e != nil {
		e.busy = busy
		e.since = mono()
		if !busy {
			l.cond.Signal() // an Accept waiting may close it now
		}
	}
	l.mu.Unlock()
}

// Forget removes a closed connection, freeing its place.
func (l *ConnCap) Forget(c net.Conn) {
	l.mu.Lock()
	if _, ok := l.conns[c]; ok {
		delete(l.conns, c)
		l.cond.Signal()
	}
	l.mu.Unlock()
}
