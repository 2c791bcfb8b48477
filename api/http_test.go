package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

// fixtureDB is a database holding testdata/drain.logplex (a real-format
// logplex body: router lines, runtime metrics, R14s, H-codes, crashes) for
// app "myapp".
func fixtureDB(t *testing.T) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "api.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w, err := sqlite.NewWriter(db, sqlite.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("testdata/drain.logplex")
	if err != nil {
		t.Fatal(err)
	}
	events, st := parser.ParseBody(body, 0, nil)
	if st.Skipped() > 1 { // the fixture has one broken frame on purpose
		t.Fatalf("%d frames skipped: %v", st.Skipped(), st.FirstError)
	}
	if _, err := w.Write(ctx, &store.Batch{App: "myapp", FrameID: "f1", Events: events}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return db
}

// serveAPI serves l's API with token on 127.0.0.1, port 0, and returns a
// client of it.
func serveAPI(t *testing.T, q Querier, token string) (*httptest.Server, *Client) {
	t.Helper()
	srv := httptest.NewServer(Handler(q, token, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)
	return srv, &Client{BaseURL: srv.URL, Token: token}
}

// get asks path with token ("" sends no Authorization) and returns the
// status, a header and the JSON error, if any.
func get(t *testing.T, method, url, token string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e apiError
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		if err := json.Unmarshal(b, &e); err != nil || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d answered %q, not a JSON error", method, url, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, resp.Header, e.Error
}

// The API's answers to every kind of request it refuses, each a JSON error
// with its status: off without a token, 401 for a missing or wrong one, 405
// for anything but GET, 404 for no such endpoint, 400 for a bad parameter or
// one over the limits, 500 when the query fails.
func TestAPIErrors(t *testing.T) {
	db := fixtureDB(t)
	l := &Local{DB: db, Limits: Limits{Rows: 3, MaxRows: 5, Top: 2, MaxGroups: 4}}
	off, _ := serveAPI(t, l, "")
	srv, _ := serveAPI(t, l, "s3cret")
	for _, tc := range []struct {
		method, url, token string
		status             int
		err                string
	}{
		{"GET", off.URL + "/api/memory", "s3cret", 404, "the API is off: set API_TOKEN"},
		{"GET", srv.URL + "/api/memory", "", 401, "missing or wrong API token"},
		{"GET", srv.URL + "/api/memory", "s3cre", 401, "missing or wrong API token"},
		{"GET", srv.URL + "/api/memory", "s3cret!", 401, "missing or wrong API token"},
		{"POST", srv.URL + "/api/memory", "s3cret", 405, "the API is read-only: use GET"},
		{"GET", srv.URL + "/api/bogus", "s3cret", 404, "no such endpoint: try /api/memory"},
		{"GET", srv.URL + "/api/memory?since=yesterday", "s3cret", 400, "since"},
		{"GET", srv.URL + "/api/requests?by=color", "s3cret", 400, "by"},
		{"GET", srv.URL + "/api/errors?limit=6", "s3cret", 400, "limit=6 is more than the 5 rows a query may return"},
		{"GET", srv.URL + "/api/requests?top=5", "s3cret", 400, "5 groups is more than the 4 a query may return"},
		{"GET", srv.URL + "/api/dynos?limit=5", "s3cret", 400, "5 dynos is more than the 4"},
	} {
		status, h, msg := get(t, tc.method, tc.url, tc.token)
		if status != tc.status || !strings.Contains(msg, tc.err) {
			t.Errorf("%s %s (token %q): %d %q; want %d %q", tc.method, tc.url, tc.token, status, msg, tc.status, tc.err)
		}
		if status == 401 && h.Get("WWW-Authenticate") != `Bearer realm="drainwatch"` {
			t.Errorf("401 without WWW-Authenticate: %v", h)
		}
		if status == 405 && h.Get("Allow") != "GET" {
			t.Errorf("405 without Allow: %v", h)
		}
	}
	// A query that fails (the database closed under it): 500, said.
	broken := fixtureDB(t)
	bsrv, _ := serveAPI(t, &Local{DB: broken}, "s3cret")
	broken.Close()
	if status, _, msg := get(t, "GET", bsrv.URL+"/api/errors", "s3cret"); status != 500 || !strings.Contains(msg, "query failed") {
		t.Errorf("closed database: %d %q", status, msg)
	}
}

// Through the API a client gets what the database answers, within the
// limits: the default row limit (the newest rows), a limit up to the
// maximum, the top groups and an (other) row; a wrong token is
// ErrUnauthorized.
func TestAPIClientAndLimits(t *testing.T) {
	ctx := context.Background()
	db := fixtureDB(t)
	l := &Local{DB: db, Limits: Limits{Rows: 3, MaxRows: 5, Top: 2, MaxGroups: 4}}
	_, c := serveAPI(t, l, "s3cret")

	all, err := db.Errors(ctx, store.Filter{App: "myapp"})
	if err != nil || len(all) < 6 {
		t.Fatalf("the fixture has %d errors (%v), the test wants 6 or more", len(all), err)
	}
	got, err := c.Errors(ctx, Query{App: "myapp"})
	if err != nil || !reflect.DeepEqual(got, all[len(all)-3:]) {
		t.Errorf("errors with the default limit (3): %v %v; want the newest 3 %v", got, err, all[len(all)-3:])
	}
	got, err = c.Errors(ctx, Query{App: "myapp", Limit: 5})
	if err != nil || !reflect.DeepEqual(got, all[len(all)-5:]) {
		t.Errorf("errors limit=5: %v %v", got, err)
	}
	if _, err := c.Errors(ctx, Query{App: "myapp", Limit: 6}); err == nil || !strings.Contains(err.Error(), "400 Bad Request") {
		t.Errorf("limit=6: %v, want a 400", err)
	}
	r14, err := c.Errors(ctx, Query{App: "myapp", Codes: []string{"R14"}})
	if err != nil || len(r14) == 0 {
		t.Errorf("R14s: %v %v", r14, err)
	}
	for _, e := range r14 {
		if e.Code != "R14" {
			t.Errorf("code=R14 answered %+v", e)
		}
	}
	mem, err := c.Memory(ctx, Query{App: "myapp"})
	local, _ := l.Memory(ctx, Query{App: "myapp"})
	if err != nil || len(mem) == 0 || !reflect.DeepEqual(mem, local) {
		t.Errorf("memory through the API %v %v, locally %v", mem, err, local)
	}
	groups, err := c.Requests(ctx, Query{App: "myapp", By: "path"})
	if err != nil || len(groups) != 3 || groups[2].Key != store.OtherGroups {
		t.Errorf("requests by path, top 2 by default: %+v %v; want 2 and (other)", groups, err)
	}
	bad := &Client{BaseURL: c.BaseURL, Token: "wrong"}
	if _, err := bad.Memory(ctx, Query{}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong token: %v", err)
	}
}
