package api

import (
	"errors"
	"net/url"
	"reflect"
	"testing"
	"time"
)

func TestQueryRoundTrip(t *testing.T) {
	q := Query{App: "myapp", Dyno: "web.1", Since: time.Date(2026, 11, 20, 1, 2, 3, 456789000, time.UTC),
		Until: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), Limit: 10, By: "status", Top: 5, Codes: []string{"R14", "H12"}}
	got, err := ParseQuery(q.Values())
	if err != nil || !reflect.DeepEqual(got, q) {
		t.Errorf("round trip: %+v %v", got, err)
	}
	if got, err := ParseQuery(url.Values{}); err != nil || !reflect.DeepEqual(got, Query{}) {
		t.Errorf("empty: %+v %v", got, err)
	}
}

func TestParseQueryErrors(t *testing.T) {
	for _, raw := range []string{"since=yesterday", "until=2026-13-01T00:00:00Z", "limit=-1", "top=x", "by=color"} {
		v, _ := url.ParseQuery(raw)
		if _, err := ParseQuery(v); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%s: %v", raw, err)
		}
	}
}
