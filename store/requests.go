package store

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// PathTemplate groups request paths: the query string goes, and segments
// that identify one thing become placeholders — /users/123 and /users/456
// are both /users/:id.
func PathTemplate(path string) string {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		return "/"
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if s == "" {
			continue
		}
		switch {
		case isDigits(s):
			segs[i] = ":id"
		case isUUID(s):
			segs[i] = ":uuid"
		case len(s) >= 16 && isHex(s):
			segs[i] = ":hash"
		case len(s) >= 20 && hasDigit(s) && !strings.ContainsAny(s, ".-_"):
			segs[i] = ":token"
		}
	}
	return strings.Join(segs, "/")
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }

func isUUID(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	return isHex(s[:8]) && isHex(s[9:13]) && isHex(s[14:18]) && isHex(s[19:23]) && isHex(s[24:])
}

// RequestGroup is what the router lines of one group (a path template, a
// status, or a dyno) say.
type RequestGroup struct {
	Key        string           `json:"key"`
	Count      int64            `json:"count"`
	Errors     int64            `json:"errors"` // status >= 500 or an H-code
	ErrorRate  float64          `json:"error_rate"`
	ServiceP50 float64          `json:"service_p50_ms"`
	ServiceP95 float64          `json:"service_p95_ms"`
	ServiceP99 float64          `json:"service_p99_ms"`
	ConnectP50 float64          `json:"connect_p50_ms"`
	ConnectP95 float64          `json:"connect_p95_ms"`
	ConnectP99 float64          `json:"connect_p99_ms"`
	Bytes      int64            `json:"bytes"`
	Codes      map[string]int64 `json:"codes,omitempty"` // H12: 3, …
	First      time.Time        `json:"first"`
	Last       time.Time        `json:"last"`
}

// RequestStats groups the router lines matching f by "path" (template),
// "status" or "dyno", and returns the top groups by count (all when top is 0).
func (db *DB) RequestStats(ctx context.Context, f Filter, by string, top int) ([]RequestGroup, error) {
	var keyCol string
	switch by {
	case "path", "":
		keyCol = "path"
	case "status":
		keyCol = "status"
	case "dyno":
		keyCol = "dyno"
	default:
		return nil, fmt.Errorf("group by %q: want path, status or dyno", by)
	}
	where, args := f.where()
	rows, err := db.ro.QueryContext(ctx, `SELECT `+keyCol+`, time, status, code, service_ms, connect_ms, bytes FROM requests`+where, args...)
	if err != nil {
		return nil, fmt.Errorf("query requests: %w", err)
	}
	defer rows.Close()
	type acc struct {
		g                RequestGroup
		service, connect []int64
	}
	groups := map[string]*acc{}
	for rows.Next() {
		var key, code string
		var keyNull *string
		var keyInt *int64
		var t int64
		var status, service, connect, nbytes *int64
		dest := []any{&keyNull, &t, &status, &code, &service, &connect, &nbytes}
		if keyCol == "status" {
			dest[0] = &keyInt
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("query requests: %w", err)
		}
		switch {
		case keyCol == "status" && keyInt != nil:
			key = strconv.FormatInt(*keyInt, 10)
		case keyCol == "status":
			key = "-"
		case keyCol == "path" && keyNull != nil:
			key = PathTemplate(*keyNull)
		case keyNull != nil && *keyNull != "":
			key = *keyNull
		default:
			key = "-"
		}
		a := groups[key]
		if a == nil {
			a = &acc{g: RequestGroup{Key: key}}
			groups[key] = a
		}
		tm := time.UnixMicro(t).UTC()
		if a.g.First.IsZero() || tm.Before(a.g.First) {
			a.g.First = tm
		}
		if tm.After(a.g.Last) {
			a.g.Last = tm
		}
		a.g.Count++
		if code != "" || (status != nil && *status >= 500) {
			a.g.Errors++
		}
		if code != "" {
			if a.g.Codes == nil {
				a.g.Codes = map[string]int64{}
			}
			a.g.Codes[code]++
		}
		if service != nil {
			a.service = append(a.service, *service)
		}
		if connect != nil {
			a.connect = append(a.connect, *connect)
		}
		if nbytes != nil {
			a.g.Bytes += *nbytes
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query requests: %w", err)
	}
	out := make([]RequestGroup, 0, len(groups))
	for _, a := range groups {
		g := a.g
		g.ErrorRate = float64(g.Errors) / float64(g.Count)
		g.ServiceP50, g.ServiceP95, g.ServiceP99 = percentiles(a.service)
		g.ConnectP50, g.ConnectP95, g.ConnectP99 = percentiles(a.connect)
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	if top > 0 && len(out) > top {
		out = out[:top]
	}
	return out, nil
}

// percentiles returns the 50th, 95th and 99th percentiles (nearest rank).
func percentiles(v []int64) (p50, p95, p99 float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	rank := func(p float64) float64 {
		i := int(p*float64(len(v))+0.999999) - 1
		i = min(max(i, 0), len(v)-1)
		return float64(v[i])
	}
	return rank(0.50), rank(0.95), rank(0.99)
}
