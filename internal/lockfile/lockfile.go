// Package lockfile makes one process at a time the owner of a database
// file: an exclusive OS lock (flock) on a lock file beside it, which also
// says who holds it, so that the next process can name the holder.
package lockfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Holder is what the lock file says of its holder.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Since   time.Time `json:"since"`
	Command string    `json:"command"` // "serve", "import"
	// ImportURL and ImportToken, when the holder is a daemon, are where and
	// how a local `drainwatch import` hands it lines (plain HTTP on the
	// loopback; the token is readable only by who can read the lock file).
	ImportURL   string `json:"import_url,omitempty"`
	ImportToken string `json:"import_token,omitempty"`
}

func (h Holder) String() string {
	cmd := "drainwatch"
	if h.Command != "" {
		cmd += " " + h.Command
	}
	if h.PID == 0 {
		return cmd + " (starting)"
	}
	return fmt.Sprintf("%s (pid %d on %s since %s)", cmd, h.PID, h.Host, h.Since.UTC().Format(time.RFC3339))
}

// HeldError is Acquire's error when another process holds the lock.
type HeldError struct {
	Path   string // the database's path
	Holder Holder // as its lock file says; zero if it could not be read
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is in use by %s", e.Path, e.Holder)
}

// ErrUnsupported is Acquire's error where the OS has no flock.
var ErrUnsupported = errors.New("lockfile: file locks are not supported on this system")

// Lock is a held lock. Release it with Release.
type Lock struct {
	f      *os.File
	holder Holder
}

// Path is the lock file of the database at dbPath.
func Path(dbPath string) string { return dbPath + ".lock" }

// Acquire takes the lock of the database at dbPath for h (PID, Host and
// Since are filled in when zero), or fails with a *HeldError naming the
// process that holds it. The lock ends with Release or with the process:
// the OS releases it, so a crash never leaves the database locked.
func Acquire(dbPath string, h Holder) (*Lock, error) {
	f, err := os.OpenFile(Path(dbPath), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("database directory %s: %w", filepath.Dir(dbPath), err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dbPath, err)
	}
	if held {
		other, _ := readHolder(f)
		f.Close()
		return nil, &HeldError{Path: dbPath, Holder: other}
	}
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	if h.Host == "" {
		h.Host, _ = os.Hostname()
	}
	if h.Since.IsZero() {
		h.Since = time.Now()
	}
	l := &Lock{f: f}
	if err := l.Update(h); err != nil {
		l.Release()
		return nil, err
	}
	return l, nil
}

// Holder returns what the lock file says of this lock's holder.
func (l *Lock) Holder() Holder { return l.holder }

// Update rewrites what the lock file says of the holder (a daemon adds its
// import address once it listens).
func (l *Lock) Update(h Holder) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("lock file: %w", err)
	}
	if _, err := l.f.WriteAt(append(b, '\n'), 0); err != nil {
		return fmt.Errorf("lock file: %w", err)
	}
	l.holder = h
	return nil
}

// Release gives the lock up. The lock file stays: removing it would let a
// process lock a new file while another still holds the old one.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // closing the file releases the flock
	l.f = nil
	return err
}

func readHolder(f *os.File) (Holder, error) {
	var h Holder
	b := make([]byte, 4096)
	n, err := f.ReadAt(b, 0)
	if n == 0 {
		return h, err
	}
	err = json.NewDecoder(strings.NewReader(string(b[:n]))).Decode(&h)
	return h, err
}
