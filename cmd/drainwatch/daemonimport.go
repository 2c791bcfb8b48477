package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/drainwatch/drainwatch/importer"
	"github.com/drainwatch/drainwatch/internal/lockfile"
	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store"
)

// A running daemon is the only writer of its database. `drainwatch import`
// into a database a daemon holds hands the input to that daemon, which
// imports it with its own writer: on a listener of its own, on the
// loopback, whose address and token the daemon writes into its lock file
// (mode 0600: who can read it could write the database anyway). No read or
// write timeout: an import streams as long as its input lasts.

// importServer is the daemon's side: POST /import?app=A[&alerts=1] with the
// raw input as the body, answered with an importResult.
type importServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// importResult is the answer to an import: the summary, and the error that
// stopped it, if any.
type importResult struct {
	Summary importer.Summary `json:"summary"`
	Error   string           `json:"error,omitempty"`
}

func (s *server) startImports() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("import listener: %w", err)
	}
	token := rand.Text() // 128 bits and more, base32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /import", func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		want := sha256.Sum256([]byte("Bearer " + token))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		s.serveImport(w, r)
	})
	is := &importServer{ln: ln, done: make(chan struct{}), srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}}
	go func() {
		defer close(is.done)
		is.srv.Serve(ln)
	}()
	h := s.lock.Holder()
	h.ImportURL, h.ImportToken = "http://"+ln.Addr().String()+"/import", token
	if err := s.lock.Update(h); err != nil {
		is.close(context.Background())
		return err
	}
	s.imports = is
	return nil
}

// close stops taking imports and waits for those running: their batches
// are written before the writer closes.
func (is *importServer) close(ctx context.Context) error {
	err := is.srv.Shutdown(ctx)
	<-is.done
	return err
}

// serveImport imports the request body with the daemon's writer. With
// alerts=1 the daemon's alert engine sees the imported lines, as it sees
// live ones (its alerts are delivered like any other).
func (s *server) serveImport(w http.ResponseWriter, r *http.Request) {
	if !s.ready() {
		http.Error(w, "the daemon's database is not open yet (see its log); import again in a moment", http.StatusServiceUnavailable)
		return
	}
	opts := importer.Options{App: r.URL.Query().Get("app")}
	if r.URL.Query().Get("alerts") == "1" {
		opts.Observe = func(app string, events []parser.Event) { s.alerts.Observe(app, events) }
	}
	sum, err := importer.Import(r.Context(), r.Body, s.writer, opts)
	res := importResult{Summary: sum}
	status := http.StatusOK
	if err != nil {
		res.Error = err.Error()
		status = http.StatusInternalServerError
		if errors.Is(err, store.ErrClosed) {
			status = http.StatusServiceUnavailable
		}
		s.log.Warn("import stopped", "app", opts.App, "lines", sum.Lines, "stored", sum.Stored, "error", err.Error())
	} else {
		s.log.Info("imported", "app", opts.App, "lines", sum.Lines, "stored", sum.Stored, "duplicate", sum.Duplicate)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(res)
}

// importThroughDaemon sends in to the daemon that holds the database, and
// returns what it did.
func importThroughDaemon(ctx context.Context, h lockfile.Holder, in io.Reader, app string, alerts bool) (importer.Summary, error) {
	host, _ := os.Hostname()
	switch {
	case h.Command != "serve":
		return importer.Summary{}, &importRefusal{"wait for it to finish, then import again"}
	case h.Host != host:
		return importer.Summary{}, &importRefusal{fmt.Sprintf("run the import on %s, where the daemon runs", h.Host)}
	case h.ImportURL == "" || h.ImportToken == "":
		return importer.Summary{}, &importRefusal{"it is starting; import again in a moment"}
	}
	q := url.Values{"app": {app}}
	if alerts {
		q.Set("alerts", "1")
	}
	req, err := http.NewRequestWithContext(ctx, "POST", h.ImportURL+"?"+q.Encode(), in)
	if err != nil {
		return importer.Summary{}, err
	}
	req.Header.Set("Authorization", "Bearer "+h.ImportToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return importer.Summary{}, fmt.Errorf("daemon: %w", err)
	}
	defer resp.Body.Close()
	var res importResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return importer.Summary{}, fmt.Errorf("daemon answered %s", resp.Status)
	}
	if res.Error != "" {
		return res.Summary, fmt.Errorf("daemon: %s", res.Error)
	}
	return res.Summary, nil
}

// importRefusal is why a daemon holding the database cannot take an
// import, and what to do instead.
type importRefusal struct{ how string }

func (r *importRefusal) Error() string { return r.how }
