package api

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/drainwatch/drainwatch/alerts"
	"github.com/drainwatch/drainwatch/analyze"
	"github.com/drainwatch/drainwatch/store"
)

// Handler serves the read API under /api/: GET /api/{memory,load,errors,
// requests,alerts,analyze,dynos} with the Query parameters, each answering a
// JSON array. Every request needs "Authorization: Bearer TOKEN". With no
// token configured the API is off: every request gets 404.
func Handler(q Querier, token string, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	want := sha256.Sum256([]byte(token))
	mux := http.NewServeMux()
	route := func(name string, run func(ctx context.Context, q Query) (any, error)) {
		mux.HandleFunc("/api/"+name, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet {
				w.Header().Set("Allow", http.MethodGet)
				writeError(w, http.StatusMethodNotAllowed, "the API is read-only: use GET")
				return
			}
			query, err := ParseQuery(r.URL.Query())
			if err != nil {
				writeError(w, http.StatusBadRequest, err.Error())
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			defer cancel()
			v, err := run(ctx, query)
			if errors.Is(err, ErrBadQuery) {
				writeError(w, http.StatusBadRequest, err.Error())
				return
			}
			if err != nil {
				log.Error("api query failed", "endpoint", name, "error", err.Error())
				writeError(w, http.StatusInternalServerError, "query failed: "+err.Error())
				return
			}
			if st, ok := v.(streamMemory); ok {
				st.write(ctx, w, log)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(v)
		})
	}
	if st, ok := q.(memoryStreamer); ok {
		route("memory", func(ctx context.Context, qq Query) (any, error) { return streamMemory{st, qq}, nil })
	} else {
		route("memory", func(ctx context.Context, qq Query) (any, error) { return q.Memory(ctx, qq) })
	}
	route("load", func(ctx context.Context, qq Query) (any, error) { return q.Load(ctx, qq) })
	route("errors", func(ctx context.Context, qq Query) (any, error) { return q.Errors(ctx, qq) })
	route("requests", func(ctx context.Context, qq Query) (any, error) { return q.Requests(ctx, qq) })
	route("alerts", func(ctx context.Context, qq Query) (any, error) { return q.Alerts(ctx, qq) })
	route("analyze", func(ctx context.Context, qq Query) (any, error) { return q.Analyze(ctx, qq) })
	route("dynos", func(ctx context.Context, qq Query) (any, error) { return q.Dynos(ctx, qq) })
	route("suspects", func(ctx context.Context, qq Query) (any, error) { return q.Suspects(ctx, qq) })
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: try /api/memory, /api/load, /api/errors, /api/requests, /api/alerts, /api/analyze, /api/dynos, /api/suspects")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			writeError(w, http.StatusNotFound, "the API is off: set API_TOKEN on the daemon to turn it on")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="drainwatch"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong API token (Authorization: Bearer …)")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// memoryStreamer reads memory samples one at a time (Local does).
type memoryStreamer interface {
	EachMemory(ctx context.Context, q Query, fn func(*store.MemorySample) error) error
}

// streamMemory answers /api/memory as it reads the samples: the same JSON
// array as encoding them all at once, without holding them (100,000
// samples took ~100 MB that way).
type streamMemory struct {
	st memoryStreamer
	q  Query
}

func (s streamMemory) write(ctx context.Context, w http.ResponseWriter, log *slog.Logger) {
	bw := bufio.NewWriterSize(w, 32<<10)
	n := 0
	var buf []byte
	err := s.st.EachMemory(ctx, s.q, func(m *store.MemorySample) error {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if n == 0 {
			w.Header().Set("Content-Type", "application/json")
			buf = append(buf[:0], '[')
		} else {
			buf = append(buf[:0], ',')
		}
		n++
		buf = append(buf, b...)
		_, err = bw.Write(buf)
		return err
	})
	switch {
	case errors.Is(err, ErrBadQuery) && n == 0:
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil && n == 0:
		log.Error("api query failed", "endpoint", "memory", "error", err.Error())
		writeError(w, http.StatusInternalServerError, "query failed: "+err.Error())
		return
	case err != nil:
		// The status is sent: cut the array short, so the client's JSON
		// decoder fails rather than taking a part for the whole.
		log.Error("api query failed while answering", "endpoint", "memory", "error", err.Error(), "rows_sent", n)
		bw.Flush()
		return
	}
	if n == 0 {
		w.Header().Set("Content-Type", "application/json")
		bw.WriteString("[]\n")
	} else {
		bw.WriteString("]\n")
	}
	bw.Flush()
}

type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(apiError{msg})
}

// Client asks a running daemon's API. It implements Querier.
type Client struct {
	BaseURL string // https://my-drainwatch.herokuapp.com
	Token   string
	HTTP    *http.Client
}

var _ Querier = (*Client)(nil)

// ErrUnauthorized is returned when the daemon refuses the token.
var ErrUnauthorized = errors.New("the daemon refused the API token")

func (c *Client) get(ctx context.Context, name string, q Query, out any) error {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	u := strings.TrimRight(c.BaseURL, "/") + "/api/" + name
	if v := q.Values().Encode(); v != "" {
		u += "?" + v
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e apiError
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("%w: %s", ErrUnauthorized, e.Error)
		}
		return fmt.Errorf("api %s: %s: %s", name, resp.Status, e.Error)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("api %s: bad answer: %w", name, err)
	}
	return nil
}

func fetch[T any](ctx context.Context, c *Client, name string, q Query) ([]T, error) {
	var out []T
	if err := c.get(ctx, name, q, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}

// Memory asks the daemon for memory samples.
func (c *Client) Memory(ctx context.Context, q Query) ([]store.MemorySample, error) {
	return fetch[store.MemorySample](ctx, c, "memory", q)
}

// Load asks the daemon for load samples.
func (c *Client) Load(ctx context.Context, q Query) ([]store.LoadSample, error) {
	return fetch[store.LoadSample](ctx, c, "load", q)
}

// Errors asks the daemon for error events.
func (c *Client) Errors(ctx context.Context, q Query) ([]store.ErrorEvent, error) {
	return fetch[store.ErrorEvent](ctx, c, "errors", q)
}

// Requests asks the daemon for request statistics.
func (c *Client) Requests(ctx context.Context, q Query) ([]store.RequestGroup, error) {
	return fetch[store.RequestGroup](ctx, c, "requests", q)
}

// Alerts asks the daemon for its alerts.
func (c *Client) Alerts(ctx context.Context, q Query) ([]alerts.Alert, error) {
	return fetch[alerts.Alert](ctx, c, "alerts", q)
}

// Analyze asks the daemon for the boot analysis.
func (c *Client) Analyze(ctx context.Context, q Query) ([]analyze.Report, error) {
	return fetch[analyze.Report](ctx, c, "analyze", q)
}

// Suspects asks the daemon which paths go with memory growth.
func (c *Client) Suspects(ctx context.Context, q Query) (analyze.SuspectReport, error) {
	var r analyze.SuspectReport
	err := c.get(ctx, "suspects", q, &r)
	return r, err
}

// Dynos asks the daemon for its dyno summaries.
func (c *Client) Dynos(ctx context.Context, q Query) ([]store.DynoSummary, error) {
	return fetch[store.DynoSummary](ctx, c, "dynos", q)
}
